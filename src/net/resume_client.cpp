#include "resume_client.hpp"

#include <mutex>

namespace closewise::net::detail {

std::string resume_offer(client_resume& r) {
  std::lock_guard lock(r.mutex());
  return r.state().offer();
}

resume_answer read_resume_answer(client_resume& r, driver& d,
                                 const std::vector<std::string>& extensions) {
  resume_answer a;
  std::lock_guard lock(r.mutex());
  auto& cs = r.state();
  a.outcome = cs.on_answer(extensions);
  using kind = resume::client_outcome_kind;
  // not_negotiated: a plain connection, no session to carry (docs/resume.md §10, step 2).
  if (a.outcome.kind == kind::failed || a.outcome.kind == kind::not_negotiated) return a;
  if (cs.has_session()) a.link = std::make_unique<resume_link>(d, r.mutex(), cs.current(), &cs);
  return a;
}

}  // namespace closewise::net::detail
