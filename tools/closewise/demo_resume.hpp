// `closewise demo`'s resume row (docs/resume.md, issue 13): the server dies
// mid-stream and comes back, and the client resumes with nothing lost.
#pragma once

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace closewise::cli::demo {

struct resume_row {
  std::string how;             ///< what "the server dies" meant in this run
  int messages = 0;            ///< sent by the client, echoed by the server
  int killed_after = 0;        ///< echoes seen when the first server died
  int echoes = 0;              ///< echoes the client received
  bool in_order_once = false;  ///< echoes are exactly 1..messages
  std::size_t handed_back = 0;
  std::string outcome;  ///< the second connection's negotiation: resumed, ...
  long replayed_out = 0, replayed_in = 0;
  std::chrono::milliseconds resume_time{0};  ///< from the kill to the resumed connection
  bool ok = false;
};

/// Runs the row on `ioc` (run by another thread). In-process: a second
/// server on the same port shares the first one's memory store, and the
/// first is destroyed abruptly (every connection aborted, no close frame).
resume_row run_resume_row(boost::asio::io_context& ioc, int messages = 2000);
nlohmann::json resume_report(const resume_row& r);
std::vector<std::string> describe(const resume_row& r);

}  // namespace closewise::cli::demo
