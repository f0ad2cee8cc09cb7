import GatehouseCore
import Testing

@Suite("Metrics text")
struct MetricsTests {
    @Test("counters render sorted series with escaped label values")
    func counters() {
        let family = CounterFamily("x_total", help: "Things.", labels: ["provider", "status"])
        family.add(["b", "200"])
        family.add(["a\"q", "500"], 3)
        family.add(["b", "200"])
        var text = ""
        family.render(into: &text)
        #expect(text == """
            # HELP x_total Things.
            # TYPE x_total counter
            x_total{provider="a\\"q",status="500"} 3
            x_total{provider="b",status="200"} 2

            """)
        #expect(family.value(["b", "200"]) == 2)
    }

    @Test("an unlabelled counter shows 0 before anything happened")
    func zero() {
        var text = ""
        CounterFamily("y_total", help: "Nothing yet.").render(into: &text)
        #expect(text.hasSuffix("y_total 0\n"))
    }

    @Test("histograms are cumulative, with sum and count")
    func histogram() {
        let family = HistogramFamily("d_seconds", help: "Time.", labels: ["dialect"], bounds: [0.1, 1])
        family.observe(["openai"], 0.05)
        family.observe(["openai"], 0.5)
        family.observe(["openai"], 5)
        var text = ""
        family.render(into: &text)
        #expect(text.contains(#"d_seconds_bucket{dialect="openai",le="0.1"} 1"#))
        #expect(text.contains(#"d_seconds_bucket{dialect="openai",le="1"} 2"#))
        #expect(text.contains(#"d_seconds_bucket{dialect="openai",le="+Inf"} 3"#))
        #expect(text.contains(#"d_seconds_sum{dialect="openai"} 5.55"#))
        #expect(text.contains(#"d_seconds_count{dialect="openai"} 3"#))
    }
}
