import GatehouseCore

/// The one place that binds a provider kind to its adapter. Adding a provider is a
/// new folder plus one line here.
public enum ProviderRegistry {
    public static func chatProvider(for kind: ProviderKind) -> any ChatProvider {
        switch kind {
        case .openAI, .openAICompatible: return OpenAIProvider()
        case .anthropic: return AnthropicProvider()
        case .gemini: return GeminiProvider()
        }
    }

    public static func embeddingProvider(for kind: ProviderKind) -> (any EmbeddingProvider)? {
        switch kind {
        case .openAI, .openAICompatible: return OpenAIProvider()
        case .gemini: return GeminiProvider()
        case .anthropic: return nil
        }
    }
}
