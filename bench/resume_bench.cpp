// Resume core micro-benchmark: what the sans-I/O bookkeeping of
// docs/resume.md adds per message to a server's protocol core, side by side
// with the plain echo in the same binary. It is the budget part B has for the
// targets (server CPU per message with resume in memory within 15% at 32 B and
// 5% at 64 KiB of the plain server). The peer's acks are applied directly every
// 64 messages (the 14-byte ack frame's parse is not counted).
//
// Two things part B should know (smoke runs, not recorded figures):
// - At 64 KiB one connection frees 4 MiB of payloads per ack, and glibc trims
//   the heap top each time, so the next 64 messages page-fault fresh memory:
//   that dominated the first runs. Run it also with MALLOC_TRIM_THRESHOLD_=268435456
//   to see the core's own cost (a 64 KiB copy into the replay buffer); a server
//   with many connections rarely frees its heap top.
// - The plain 64 KiB echo copies nothing (send_external writes from the
//   receive buffer), while resume must keep the payload until it is acked: one
//   copy per message, unless part B hands the received buffer's ownership to
//   the replay buffer instead of copying it.
//
//   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCLOSEWISE_BUILD_BENCH=ON
//   ninja -C build-bench closewise_resume_bench && build-bench/bench/closewise_resume_bench
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "closewise/proto/connection.hpp"
#include "closewise/proto/frame.hpp"
#include "closewise/resume/session.hpp"
#include "closewise/resume/wire.hpp"

namespace {

namespace proto = closewise::proto;
namespace resume = closewise::resume;

// Masked text frames of `payload` bytes, as a server receives them.
std::string masked_frames(std::size_t count, std::size_t payload) {
  std::string out;
  const std::string text(payload, 'a');
  for (std::size_t i = 0; i < count; ++i) {
    proto::frame_header h;
    h.op = proto::opcode::text;
    h.masked = true;
    h.mask_key = 0x3D21FA37u + static_cast<std::uint32_t>(i);
    h.length = payload;
    std::uint8_t hdr[proto::max_header_size];
    const auto n = proto::encode_header(h, hdr);
    std::string body = text;
    proto::apply_mask(reinterpret_cast<std::uint8_t*>(body.data()), body.size(), h.mask_key);
    out.append(reinterpret_cast<const char*>(hdr), n).append(body);
  }
  return out;
}

struct echo : proto::handler {
  proto::connection* c = nullptr;
  resume::session* s = nullptr;  // null: plain
  resume::time_point now{};
  std::size_t messages = 0;
  void on_message(proto::message_kind k, std::string_view p) override {
    ++messages;
    if (s == nullptr) {
      (void)c->send(k, p);
      return;
    }
    resume::seq n;
    (void)s->in().on_message(p.size(), now, n);
    if (s->out().push(k, std::string(p), now)) return;
    while (const auto m = s->out().next_to_write()) {
      (void)c->send(m->kind, m->payload);
      s->out().mark_written();
    }
    if (s->in().ack_due(now)) {
      const auto a = resume::encode_ack(s->in().take_ack());
      (void)c->send_extension_control(resume::ack_opcode, std::string_view(a.data(), a.size()));
    }
    // The client's ack for what it has read, as it would arrive every 64 messages.
    if (messages % 64 == 0) (void)s->out().on_ack(s->out().written());
  }
  void on_closed(const closewise::close_event&) override {}
};

template <bool Resume>
void parse_and_echo(benchmark::State& st) {
  const auto size = static_cast<std::size_t>(st.range(0));
  const std::size_t per_read = size <= 64 ? 256 : 4;
  const std::string wire = masked_frames(per_read, size);
  std::string buf, out;
  echo h;
  proto::config cfg;
  cfg.check_outgoing_utf8 = false;
  cfg.extension_control_opcodes = resume::ack_opcode_bit;
  proto::connection c(proto::role::server, h, cfg);
  resume::session s(resume::session_id::generate());
  h.c = &c;
  if (Resume) h.s = &s;
  c.open();
  for (auto _ : st) {
    buf = wire;
    c.receive_in_place(buf.data(), buf.size());
    c.swap_output(out);
    benchmark::DoNotOptimize(out.data());
    out.clear();
  }
  if (Resume && s.out().size() > 64) st.SkipWithError("the replay buffer grew: acks not applied");
  st.counters["msgs/s"] =
      benchmark::Counter(static_cast<double>(h.messages), benchmark::Counter::kIsRate);
}
BENCHMARK(parse_and_echo<false>)->Name("echo/plain")->Arg(32)->Arg(65536);
BENCHMARK(parse_and_echo<true>)->Name("echo/resume")->Arg(32)->Arg(65536);

}  // namespace

BENCHMARK_MAIN();
