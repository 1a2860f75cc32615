#include "closewise/policy/decision.hpp"

#include <utility>

namespace closewise::policy {

decision decision::stop(std::string cause, std::string reason) {
  decision d;
  d.kind = decision_kind::stop;
  d.cause = std::move(cause);
  d.reason = std::move(reason);
  return d;
}

decision decision::retry(std::chrono::milliseconds delay, std::string cause) {
  decision d;
  d.kind = decision_kind::retry;
  d.delay = delay;
  d.cause = std::move(cause);
  return d;
}

decision resolve_credential_refresh(decision d, bool got_new_credentials) {
  if (d.kind != decision_kind::refresh_credentials) return d;
  if (got_new_credentials) {
    d.kind = decision_kind::retry;
    d.after_credential_refresh = true;
    d.reason.clear();
  } else {
    d.kind = decision_kind::stop;
    d.delay = std::chrono::milliseconds{0};
  }
  return d;
}

}  // namespace closewise::policy
