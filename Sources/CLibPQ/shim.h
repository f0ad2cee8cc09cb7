// PostgreSQL's client library from the system (Debian's libpq-dev): the ledger's shared store.
#include <libpq-fe.h>
