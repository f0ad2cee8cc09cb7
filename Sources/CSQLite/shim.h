// SQLite 3 from the system (Debian's libsqlite3-dev): the ledger's embedded store.
#include <sqlite3.h>
