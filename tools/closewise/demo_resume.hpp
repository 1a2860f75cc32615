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
  std::string store;           ///< redis://127.0.0.1:PORT, or memory in-process
  long killed_pid = 0;         ///< the `closewise serve` killed (0 in-process)
  long restarted_pid = 0;      ///< the one that took over its port (0 in-process)
  std::string server_outcome;  ///< what the restarted serve printed: resumed, ...
  std::string problem;         ///< why the row did not run through ("" when it did)
};

/// Runs the row on `ioc` (run by another thread), from the calling thread,
/// which must outlive the children it starts (it is their parent, and
/// PR_SET_PDEATHSIG follows the thread). With redis-server installed (on
/// PATH, or named by CLOSEWISE_REDIS_SERVER): its own redis-server on a free
/// loopback port, no persistence; `closewise serve --echo --resume redis://...`
/// as a child process, killed with SIGKILL mid-stream and started again on
/// the same port. Without it, in-process: a second server on the same port
/// shares the first one's memory store, and the first is destroyed abruptly
/// (every connection aborted, no close frame). Every wait is bounded, and no
/// child outlives the call.
resume_row run_resume_row(boost::asio::io_context& ioc, int messages = 2000);
nlohmann::json resume_report(const resume_row& r);
std::vector<std::string> describe(const resume_row& r);

}  // namespace closewise::cli::demo
