#include "storage/store.hpp"

namespace storage {

namespace {
thread_local bool t_forbidden = false;
}  // namespace

StorageForbidden::StorageForbidden() : outer_(t_forbidden) { t_forbidden = true; }

StorageForbidden::~StorageForbidden() { t_forbidden = outer_; }

bool StorageForbidden::active() { return t_forbidden; }

}  // namespace storage
