// Fuzzes the policy JSON loader (policy/json.hpp) and then the policy it loaded.
//
// Input: the JSON text. Invariants (a violation aborts):
// - a load either gives a policy or a syntax/schema error with a message that
//   says where (never an exception, never a crash);
// - a loaded policy saves to JSON that loads back equal, and saving that again
//   gives the same text;
// - the loaded policy decides every kind of outcome for a streak of attempts
//   without a negative delay, and its rules' reasons outlive the input text.
#include "closewise/policy/json.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "closewise/policy/policy.hpp"

namespace policy = closewise::policy;
using closewise::close_code;
using std::chrono::milliseconds;

namespace {

// A broken invariant aborts, naming itself, so a crash report says which.
#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

// A streak of attempts that all end with `what`, as a reconnecting client runs it.
void run_streak(const policy::config& cfg, const policy::outcome& what, double u) {
  policy::retry_state state;
  const auto uniform = [u] { return u; };
  policy::clock_reading at{};
  for (int attempt = 0; attempt < 6; ++attempt) {
    state.record({what, attempt % 2 == 0 ? std::optional<milliseconds>{} : milliseconds{10},
                  attempt == 3, at},
                 cfg);
    policy::decision d = policy::decide(what, state.context(), cfg, uniform);
    if (d.kind == policy::decision_kind::refresh_credentials) {
      d = policy::resolve_credential_refresh(d, attempt % 2 == 0);
    }
    CHECK(d.delay >= milliseconds{0});
    CHECK(!d.cause.empty());
    if (d.stops()) CHECK(!d.reason.empty());
    state.commit(d);
    if (!d.retries()) break;
    at.steady += d.delay;
    at.wall += d.delay;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  const policy::load_result r = policy::parse_policy(text);
  if (!r) {
    CHECK(r.error == policy::json_error::syntax || r.error == policy::json_error::schema);
    CHECK(r.message.rfind("policy", 0) == 0);  // "policy: ..." or "policy.field: ..."
    return 0;
  }
  CHECK(!r.error);
  const policy::config& cfg = *r.policy;
  text.assign(text.size(), '\0');  // nothing loaded may point into the input

  // Saving writes two overrides of the very same range once (the one that
  // applies), so the reloaded policy is equal in what it decides, and saving it
  // again gives the same text.
  const std::string saved = policy::to_json(cfg);
  const policy::load_result again = policy::parse_policy(saved);
  CHECK(again);
  CHECK(policy::to_json(*again.policy) == saved);
  const auto same_rules = [&](const policy::config& a, const policy::config& b) {
    for (const auto& o : a.codes) {
      for (const long v : {long{o.first} - 1, long{o.first}, long{o.last}, long{o.last} + 1}) {
        if (v < 0 || v > 65535) continue;
        const auto c = static_cast<close_code>(v);
        if (!(policy::rule_for_code(c, a) == policy::rule_for_code(c, b))) return false;
      }
    }
    for (const auto& o : a.statuses) {
      for (const unsigned v : {o.first - 1, o.first, o.last, o.last + 1}) {
        if (!(policy::rule_for_status(v, a) == policy::rule_for_status(v, b))) return false;
      }
    }
    for (const auto f : policy::all_transport_failures) {
      if (!(policy::rule_for_transport(f, a) == policy::rule_for_transport(f, b))) return false;
    }
    return true;
  };
  CHECK(same_rules(cfg, *again.policy) && same_rules(*again.policy, cfg));

  const close_code codes[] = {close_code::normal,
                              close_code::going_away,
                              close_code::protocol_error,
                              close_code::abnormal,
                              close_code::policy_violation,
                              close_code::message_too_big,
                              close_code::service_restart,
                              close_code::try_again_later,
                              close_code::tls_handshake,
                              close_code{3000},
                              close_code{4000},
                              close_code{4500}};
  for (const double u : {0.0, 0.999}) {
    for (const close_code c : codes) {
      run_streak(cfg,
                 closewise::close_event{c, "retry-after=7", true, closewise::initiator::remote, {}},
                 u);
      (void)policy::rule_for_code(c, cfg).why.size();
    }
    for (const unsigned status : {401u, 404u, 429u, 500u, 503u}) {
      run_streak(cfg, policy::http_refusal{status, std::string("120"), {}}, u);
    }
    for (const auto f : policy::all_transport_failures) run_streak(cfg, f, u);
  }
  return 0;
}
