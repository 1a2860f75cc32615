// closewise::net (private): one server connection's resume state
// (docs/resume.md §10 "Server"). Only connections that offered
// `closewise-resume` to a server with a store have one.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "closewise/net/resume.hpp"
#include "closewise/resume/wire.hpp"
#include "resume_link.hpp"

namespace closewise::net::detail {

struct server_resume {
  std::mutex mu;  ///< guards *held while a link uses it
  resume::offer offer;
  std::string subprotocol;
  std::string rest;      ///< bytes behind the request, kept while the store answers
  bool waiting = false;  ///< a store operation is in flight: the 101 is not out
  resume::session_store::session_ptr held;
  std::unique_ptr<resume_link> link;
  resume::answer answer;
  server_resume_event event;
};

}  // namespace closewise::net::detail
