// Protocol core micro-benchmarks: masking and UTF-8 validation throughput,
// side by side with Boost.Beast's own code in the same binary, and the rate
// at which a server connection parses small frames.
//
//   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCLOSEWISE_BUILD_BENCH=ON
//   ninja -C build-bench closewise_proto_bench && build-bench/bench/closewise_proto_bench
#include <benchmark/benchmark.h>

#include <boost/beast/websocket/detail/mask.hpp>
#include <boost/beast/websocket/detail/utf8_checker.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "closewise/proto/connection.hpp"
#include "closewise/proto/frame.hpp"
#include "closewise/utf8.hpp"

namespace {

namespace proto = closewise::proto;
namespace bwd = boost::beast::websocket::detail;

constexpr std::uint32_t key = 0x3D21FA37u;

std::vector<std::uint8_t> bytes_of(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 31 + 7);
  return v;
}

// Text of exactly `n` bytes: ASCII only, or a mix of 1-, 2-, 3- and 4-byte code points.
std::string text_of(std::size_t n, bool multibyte) {
  static const std::string_view pieces[] = {
      "Gr\xC3\xBC\xC3\x9F"
      "e, ",
      "\xE4\xB8\x96\xE7\x95\x8C",
      "! ",
      "\xF0\x9F\x98\x80 ",
      "caf\xC3\xA9 ",
      "\xD0\xBF\xD1\x80\xD0\xB8",
      "\xCE\xB1\xCE\xB2\xCE\xB3 "};
  std::string s;
  std::size_t i = 0;
  while (multibyte) {
    const auto p = pieces[i++ % std::size(pieces)];
    if (s.size() + p.size() > n) break;
    s += p;
  }
  while (s.size() < n) s.push_back(static_cast<char>('a' + s.size() % 26));
  return s;
}

void sizes(benchmark::internal::Benchmark* b) { b->Arg(16)->Arg(1024)->Arg(1 << 20); }

// ---- masking ------------------------------------------------------------------

void mask_closewise(benchmark::State& st) {
  auto buf = bytes_of(static_cast<std::size_t>(st.range(0)));
  for (auto _ : st) {
    proto::apply_mask(buf.data(), buf.size(), key);
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * st.range(0));
}
BENCHMARK(mask_closewise)->Apply(sizes);

void mask_beast(benchmark::State& st) {
  auto buf = bytes_of(static_cast<std::size_t>(st.range(0)));
  for (auto _ : st) {
    bwd::prepared_key k;
    bwd::prepare_key(k, key);
    bwd::mask_inplace(boost::asio::mutable_buffer(buf.data(), buf.size()), k);
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * st.range(0));
}
BENCHMARK(mask_beast)->Apply(sizes);

// ---- UTF-8 validation -------------------------------------------------------------

template <bool Multibyte>
void utf8_closewise(benchmark::State& st) {
  const std::string s = text_of(static_cast<std::size_t>(st.range(0)), Multibyte);
  for (auto _ : st) {
    closewise::utf8_validator v;
    bool ok = v.feed(s) && v.finish();
    benchmark::DoNotOptimize(ok);
    if (!ok) st.SkipWithError("rejected valid text");
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * st.range(0));
}
BENCHMARK(utf8_closewise<false>)->Name("utf8_closewise/ascii")->Apply(sizes);
BENCHMARK(utf8_closewise<true>)->Name("utf8_closewise/mixed")->Apply(sizes);

template <bool Multibyte>
void utf8_beast(benchmark::State& st) {
  const std::string s = text_of(static_cast<std::size_t>(st.range(0)), Multibyte);
  for (auto _ : st) {
    bwd::utf8_checker c;
    bool ok = c.write(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()) && c.finish();
    benchmark::DoNotOptimize(ok);
    if (!ok) st.SkipWithError("rejected valid text");
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * st.range(0));
}
BENCHMARK(utf8_beast<false>)->Name("utf8_beast/ascii")->Apply(sizes);
BENCHMARK(utf8_beast<true>)->Name("utf8_beast/mixed")->Apply(sizes);

// ---- small-frame parsing ----------------------------------------------------------

struct sink : proto::handler {
  std::size_t messages = 0, bytes = 0;
  void on_message(proto::message_kind, std::string_view p) override {
    ++messages;
    bytes += p.size();
  }
  void on_closed(const closewise::close_event&) override {}
};

// A read's worth of masked 32-byte text frames, as a server receives them.
std::string masked_frames(std::size_t count, std::size_t payload) {
  std::string out;
  const std::string text = text_of(payload, false);
  for (std::size_t i = 0; i < count; ++i) {
    proto::frame_header h;
    h.op = proto::opcode::text;
    h.masked = true;
    h.mask_key = key + static_cast<std::uint32_t>(i);
    h.length = payload;
    std::uint8_t hdr[proto::max_header_size];
    const auto n = proto::encode_header(h, hdr);
    std::string body = text;
    proto::apply_mask(reinterpret_cast<std::uint8_t*>(body.data()), body.size(), h.mask_key);
    out.append(reinterpret_cast<const char*>(hdr), n).append(body);
  }
  return out;
}

// `in_place`: receive_in_place on a fresh copy per read (the network layer's path).
template <bool InPlace>
void parse_small_frames(benchmark::State& st) {
  constexpr std::size_t per_read = 256;
  const std::string wire = masked_frames(per_read, static_cast<std::size_t>(st.range(0)));
  std::string buf = wire;
  sink h;
  proto::connection c(proto::role::server, h);
  c.open();
  for (auto _ : st) {
    if constexpr (InPlace) {
      buf = wire;
      c.receive_in_place(buf.data(), buf.size());
    } else {
      c.receive(wire);
    }
  }
  if (h.messages != per_read * st.iterations()) st.SkipWithError("lost frames");
  st.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(h.messages), benchmark::Counter::kIsRate);
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * wire.size()));
}
BENCHMARK(parse_small_frames<false>)->Name("parse_small_frames/copy")->Arg(32);
BENCHMARK(parse_small_frames<true>)->Name("parse_small_frames/in_place")->Arg(32);

// Parse + echo: what an echo server's protocol core does per 32-byte message.
void parse_and_echo(benchmark::State& st) {
  constexpr std::size_t per_read = 256;
  const std::string wire = masked_frames(per_read, static_cast<std::size_t>(st.range(0)));
  std::string buf, out;
  struct echo : sink {
    proto::connection* c = nullptr;
    void on_message(proto::message_kind k, std::string_view p) override {
      ++messages;
      (void)c->send(k, p);
    }
  } h;
  proto::config cfg;
  cfg.check_outgoing_utf8 = false;
  proto::connection c(proto::role::server, h, cfg);
  h.c = &c;
  c.open();
  for (auto _ : st) {
    buf = wire;
    c.receive_in_place(buf.data(), buf.size());
    c.swap_output(out);
    benchmark::DoNotOptimize(out.data());
    out.clear();
  }
  st.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(h.messages), benchmark::Counter::kIsRate);
}
BENCHMARK(parse_and_echo)->Arg(32);

}  // namespace

BENCHMARK_MAIN();
