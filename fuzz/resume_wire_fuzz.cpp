// libFuzzer target: the resume extension's parsers (docs/resume.md §2-§3) and
// its sender/receiver state machines driven by arbitrary operations.
//
// The first byte picks the target. Invariants abort on failure: parsed values
// format back to what parses equal; a session's positions always keep
// acked <= written <= committed <= sent and oldest() within them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "closewise/resume/session.hpp"
#include "closewise/resume/wire.hpp"

namespace {

using namespace closewise::resume;

void check(bool ok) {
  if (!ok) std::abort();
}

void fuzz_offer(std::string_view in) {
  const auto o = find_offer(in);
  if (!o) return;
  check(find_offer(format_offer(*o)) == o);
  if (o->resume)
    check(o->resume->replay_from >= 1 && o->resume->replay_from <= o->resume->sent + 1);
}

void fuzz_answer(std::string_view in) {
  std::vector<std::string> elements;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= in.size(); ++i)
    if (i == in.size() || in[i] == '\n') {
      elements.emplace_back(in.substr(start, i - start));
      start = i + 1;
    }
  std::optional<answer> a;
  if (find_answer(elements, a) || !a) return;
  std::optional<answer> again;
  check(!find_answer({format_answer(*a)}, again) && again == a);
}

void fuzz_ack(std::string_view in) {
  seq n = 0;
  if (decode_ack(in, n)) return;
  const auto p = encode_ack(n);
  check(std::string_view(p.data(), p.size()) == in && n <= max_seq);
}

/// Reads a small number from the input.
struct reader {
  std::string_view in;
  std::uint64_t next(std::uint64_t mod) {
    if (in.empty() || mod == 0) return 0;
    const auto v = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    return v % mod;
  }
};

void check_positions(const session& s) {
  const outgoing& o = s.out();
  check(o.acked() <= o.written() && o.written() <= o.committed() && o.committed() <= o.sent());
  check(o.oldest() >= 1 && o.oldest() <= o.sent() + 1 && o.oldest() > o.acked());
  check(o.size() == o.sent() + 1 - o.oldest());
  const incoming& i = s.in();
  check(i.acked() <= i.committed() && i.committed() <= i.received());
}

void fuzz_session(std::string_view in) {
  reader r{in};
  session_settings st;
  st.replay.max_messages = 1 + r.next(8);
  st.replay.max_bytes = 1 + r.next(64);
  st.replay.overflow = r.next(2) ? overflow_policy::evict_oldest : overflow_policy::refuse;
  st.acks.every_messages = 1 + r.next(8);
  const bool durable = r.next(2) != 0;
  session s(session_id::generate(), st, durable);
  time_point now{};
  std::vector<commit_batch> in_flight;
  while (!r.in.empty()) {
    switch (r.next(9)) {
      case 0:
        (void)s.out().push(closewise::proto::message_kind::text, std::string(r.next(16), 'x'), now);
        (void)s.out().take_evicted();
        break;
      case 1:
        if (s.out().next_to_write()) s.out().mark_written();
        break;
      case 2:
        (void)s.out().on_ack(r.next(s.out().sent() + 2));
        break;
      case 3: {
        seq n;
        (void)s.in().on_message(r.next(32), now, n);
        break;
      }
      case 4:
        if (s.in().ack_due(now)) (void)s.in().take_ack();
        break;
      case 5:
        if (s.commit_needed()) in_flight.push_back(s.take_commit());
        break;
      case 6:
        if (!in_flight.empty()) {
          s.committed(in_flight.front(), now);
          in_flight.erase(in_flight.begin());
        }
        break;
      case 7: {
        if (!in_flight.empty()) break;  // a resume starts from what is committed
        resume_point p{s.id(), r.next(s.out().sent() + 2), s.in().committed() + r.next(3),
                       1 + r.next(s.in().committed() + 2)};
        const auto res = s.resume(p);
        if (res.status != resume_status::resumed) return;  // the session ended
        check(s.out().written() == p.received);
        break;
      }
      default:
        now += std::chrono::milliseconds(r.next(100));
        break;
    }
    check_positions(s);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      fuzz_offer(in);
      break;
    case 1:
      fuzz_answer(in);
      break;
    case 2:
      fuzz_ack(in);
      break;
    default:
      fuzz_session(in);
      break;
  }
  return 0;
}
