// closewise::net (private): the client's half of resume negotiation
// (docs/resume.md §2.3, §2.4, §10 "Client", steps 1 and 2).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "closewise/net/resume.hpp"
#include "resume_link.hpp"

namespace closewise::net::detail {

/// The `closewise-resume` element for the request.
std::string resume_offer(client_resume& r);

/// What the 101's answer means for this connection.
struct resume_answer {
  resume::client_outcome outcome;
  std::unique_ptr<resume_link> link;  ///< null: the connection is plain (or failed)
};

/// Reads the answer among the response's extensions and, when the session
/// goes on over this connection, makes its link.
resume_answer read_resume_answer(client_resume& r, driver& d,
                                 const std::vector<std::string>& extensions);

}  // namespace closewise::net::detail
