#include "resume_option.hpp"

#include <fmt/format.h>

#include <charconv>
#include <closewise/resume/memory_store.hpp>
#ifdef CLOSEWISE_CLI_REDIS
#include <closewise/resume/redis_store.hpp>
#endif

namespace closewise::cli {

std::shared_ptr<resume::session_store> make_resume_store(const std::string& spec,
                                                         std::string& problem) {
  if (spec.empty() || spec == "memory") return std::make_shared<resume::memory_store>();
  constexpr std::string_view scheme = "redis://";
  if (spec.rfind(scheme, 0) != 0) {
    problem = "expected memory or redis://HOST:PORT";
    return nullptr;
  }
  const std::string rest = spec.substr(scheme.size());
  const auto colon = rest.rfind(':');
  unsigned port = 6379;
  std::string host = rest.substr(0, colon);
  if (colon != std::string::npos) {
    const auto p = std::string_view(rest).substr(colon + 1);
    const auto r = std::from_chars(p.data(), p.data() + p.size(), port);
    if (r.ec != std::errc{} || r.ptr != p.data() + p.size() || port == 0 || port > 65535) {
      problem = fmt::format("bad port in {}", spec);
      return nullptr;
    }
  }
  if (host.empty()) {
    problem = fmt::format("no host in {}", spec);
    return nullptr;
  }
#ifdef CLOSEWISE_CLI_REDIS
  resume::redis_store_options ro;
  ro.host = host;
  ro.port = static_cast<std::uint16_t>(port);
  return std::make_shared<resume::redis_store>(ro);
#else
  problem = "this build has no Redis support (libhiredis-dev was missing)";
  return nullptr;
#endif
}

nlohmann::json resume_json(const resume::client_outcome& o) {
  using kind = resume::client_outcome_kind;
  switch (o.kind) {
    case kind::fresh:
      return {{"event", "resume_new"}};
    case kind::resumed:
      return {{"event", "resumed"}, {"replayed_out", o.replay_out}, {"replayed_in", o.replay_in}};
    case kind::not_negotiated:
      return {{"event", "resume_not_supported"}, {"handed_back", o.handed_back.size()}};
    case kind::refused:
    case kind::failed:
      break;
  }
  nlohmann::json j{{"event", "resume_failed"},
                   {"reason", o.kind == kind::failed ? std::string("bad_answer")
                                                     : std::string(to_string(o.status))},
                   {"handed_back", o.handed_back.size()},
                   {"gap", o.gap}};
  if (o.gap_size) j["gap_size"] = *o.gap_size;
  return j;
}

nlohmann::json resume_json(const net::server_resume_event& ev) {
  using st = resume::resume_status;
  if (ev.status == st::fresh) return {{"event", "resume_new"}};
  if (ev.status == st::resumed)
    return {{"event", "resumed"}, {"replayed_out", ev.replay_out}, {"replayed_in", ev.replay_in}};
  return {{"event", "resume_failed"},
          {"reason", std::string(to_string(ev.status))},
          {"handed_back", ev.handed_back.size()}};
}

std::string describe_resume(const nlohmann::json& j) {
  const std::string e = j["event"];
  if (e == "resumed")
    return fmt::format("resumed: {} message(s) replayed out, {} in", j["replayed_out"].get<long>(),
                       j["replayed_in"].get<long>());
  if (e == "resume_failed")
    return fmt::format("resume failed ({}): {} message(s) handed back",
                       j["reason"].get<std::string>(), j["handed_back"].get<long>());
  if (e == "resume_not_supported") return "resume not supported by the server: plain WebSocket";
  return "new resumable session";
}

}  // namespace closewise::cli
