#include "authz/clock.hpp"

#include <chrono>

namespace authz {

std::int64_t SystemClock::now() const {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  using std::chrono::system_clock;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace authz
