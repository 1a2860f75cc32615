// The reconnecting client's resume session (docs/resume.md §10 "Client"):
// one client_resume outlives the connections; each connection reports how
// its negotiation ended, and each end of an attempt keeps or ends the session.
#include "closewise/error.hpp"
#include "closewise/resume/fate.hpp"
#include "reconnecting_client_impl.hpp"

namespace closewise::net::detail {
namespace {

std::vector<queued_message> to_queued(
    std::vector<resume::message> msgs) {  // by value: callers move or copy
  std::vector<queued_message> out;
  out.reserve(msgs.size());
  for (auto& m : msgs) out.push_back(queued_message{m.kind, std::move(m.payload), m.number});
  return out;
}

}  // namespace

void reconnecting_client_impl::resumed(const std::shared_ptr<attempt>& att,
                                       resume::client_outcome& o) {
  actions a;
  {
    std::lock_guard lock(mu_);
    if (!att || cur_ != att) return;
    using kind = resume::client_outcome_kind;
    att->resume_active =
        o.kind == kind::fresh || o.kind == kind::resumed || o.kind == kind::refused;
    // docs/resume.md §2.4: what the server may not have received goes back, with why.
    // A copy: the outcome still lists them for the application's report.
    undelivered_locked(a, to_queued(o.handed_back), o.handback_error);
  }
  run(a);
  std::lock_guard cb(cb_mu_);
  if (!destroyed() && on_resume_) on_resume_(o);
}

void reconnecting_client_impl::settle_session_locked(actions& a, const attempt& att, bool retries) {
  if (!resume_ || !att.ended) return;
  // docs/resume.md §6: 1006 and the restart codes keep it; a stop ends it.
  auto back = resume_->on_close(resume::client_fate(*att.ended, retries));
  undelivered_locked(a, to_queued(std::move(back)), error::resume_ended);
}

void reconnecting_client_impl::expire_session_locked(actions& a) {
  if (!resume_) return;
  // The replay stamps read the real clock (resume_link), so the age does too.
  undelivered_locked(a, to_queued(resume_->expire(resume::clock_type::now())),
                     error::resume_expired);
}

void reconnecting_client_impl::end_session_locked(actions& a) {
  if (!resume_) return;
  undelivered_locked(a, to_queued(resume_->end()), error::resume_ended);
}

}  // namespace closewise::net::detail
