// The driver's write path: one non-blocking send() when a handler ends, the
// rest through async_write, a writev() of the caller's buffer for a large
// server message, and shared broadcast frames (design-notes, "Writes").
#include "driver.hpp"

#include <algorithm>

#include <boost/asio/write.hpp>

namespace closewise::net::detail {
namespace {

/// A write buffer grown beyond this is freed once written, so a burst does
/// not pin its peak memory for the connection's lifetime.
constexpr std::size_t max_retained_write_buffer = 256 * 1024;
/// Segments gathered into one write; Asio hands at most 64 to one writev.
constexpr std::size_t max_gather = 64;

}  // namespace

std::size_t driver::pending_output() const noexcept {
  return wbuf_.size() + (segs_ ? segs_->bytes : 0) + (conn_ ? conn_->output_size() : 0);
}

bool driver::direct_send_possible() const noexcept {
  return lc_.role() == proto::role::server && !tls_ && !deflate_ && !writing_ && !segs_ &&
         wbuf_.empty() && conn_->output_size() <= direct_send_max_prefix && sock_.is_open() &&
         lc_.writes();
}

std::error_code driver::send_direct(proto::message_kind kind, std::string_view payload) {
  std::uint8_t hdr[proto::max_header_size];
  std::size_t hlen = 0;
  if (auto ec = conn_->send_external(kind, payload, hdr, hlen)) return ec;
  // Nothing is in flight, so header and payload go out now, from the
  // caller's buffer; only what the socket does not take is copied. Small
  // frames queued before it (a resume ack, a pong) lead the same write, so a
  // connection that acks each large message still sends them without a copy.
  if (conn_->output_size() != 0) conn_->swap_output(wbuf_);  // wbuf_ was empty
  const std::size_t before = wbuf_.size();
  const std::array<asio::const_buffer, 3> bufs{asio::buffer(wbuf_), asio::buffer(hdr, hlen),
                                               asio::buffer(payload)};
  boost::system::error_code ec;
  std::size_t sent = sock_.write_some(bufs, ec);
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    transport_failed(ec);  // accepted, then lost with the connection: on_close says so
    return {};
  }
  if (ec) sent = 0;
  if (sent < before) {
    wbuf_.erase(0, sent);
    sent = 0;
  } else {
    wbuf_.clear();
    sent -= before;
  }
  if (sent < hlen) wbuf_.append(reinterpret_cast<const char*>(hdr) + sent, hlen - sent);
  const std::size_t from = sent > hlen ? sent - hlen : 0;
  if (from < payload.size()) wbuf_.append(payload.substr(from));
  return {};
}

void driver::write_upgrade(std::string bytes) {
  wbuf_ = std::move(bytes);
  upgrade_write_ = true;
  flush();
}

void driver::flush() {
  for (;;) {
    if (writing_ || !sock_.is_open() || !lc_.writes()) return;
    if (segs_) {
      if (!tls_) {
        flush_segments();
        return;
      }
      gather_segments();  // TLS encrypts per connection anyway: one copy, one write
    }
    if (wbuf_.empty()) {
      if (!conn_ || conn_->output_size() == 0) return;
      conn_->swap_output(wbuf_);  // everything queued since the last write goes out in one call
    }
    writing_ = true;
    const auto r = tls_ ? write_tls_now() : write_now();
    if (r == write_result::failed) return;
    if (r == write_result::partly) break;
    // Everything left: what was queued behind it (frames behind the 101) goes next.
  }
  // A TLS write that must wait is already waiting (write_tls_now).
  if (!tls_) write_async();
}

driver::write_result driver::write_now() {
  // Write now, without blocking. Most writes complete at once: the bytes
  // leave before this handler returns, no completion handler runs, and a
  // draining connection closes TCP in this same turn, with no drain timer.
  // A server's close frame leaves at once, not held back to share a segment
  // with the FIN that follows (MSG_MORE): that saved a segment per connection
  // but delayed the client's close by about 2.5 µs (bench/RESULTS.md).
  boost::system::error_code ec;
  const std::size_t n = sock_.send(asio::buffer(wbuf_), 0, ec);
  if (!ec && n == wbuf_.size()) {
    writing_ = false;
    on_written({});
    return write_result::all;
  }
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    // Reported from a handler of its own, as an asynchronous failure would be.
    post_here([ec](driver& d) {
      d.writing_ = false;
      d.on_written(ec);
    });
    return write_result::failed;
  }
  // Rare (the socket's send buffer is full): keep only what is left.
  if (!ec) wbuf_.erase(0, n);
  return write_result::partly;
}

void driver::write_async() {
  auto done = [self = self()](const boost::system::error_code& ec, std::size_t) {
    scope s(*self);
    self->writing_ = false;
    self->on_written(ec);
  };
  on_ex([this](auto h) { asio::async_write(sock_, asio::buffer(wbuf_), std::move(h)); },
        std::move(done));
}

void driver::flush_segments() {
  // Whatever the connection produced since the last shared frame goes after it.
  auto& sg = *segs_;
  if (conn_ && conn_->output_size() != 0) {
    out_segment own;
    conn_->swap_output(own.owned);
    sg.bytes += own.owned.size();
    sg.list.push_back(std::move(own));
  }
  std::vector<asio::const_buffer> bufs;
  bufs.reserve(std::min(sg.list.size(), max_gather));
  for (std::size_t i = 0; i < sg.list.size() && i < max_gather; ++i) {
    const auto b = sg.list[i].bytes();
    bufs.emplace_back(b.data(), b.size());
  }
  sg.inflight = bufs.size();
  writing_ = true;
  auto done = [self = self()](const boost::system::error_code& ec, std::size_t) {
    scope s(*self);
    self->writing_ = false;
    self->on_written(ec);
  };
  on_ex([&](auto h) { asio::async_write(sock_, bufs, std::move(h)); }, std::move(done));
}

void driver::on_written(const boost::system::error_code& ec) {
  if (segs_ && segs_->inflight != 0) {
    auto& sg = *segs_;
    for (std::size_t i = 0; i < sg.inflight; ++i) sg.bytes -= sg.list[i].bytes().size();
    sg.list.erase(sg.list.begin(), sg.list.begin() + static_cast<std::ptrdiff_t>(sg.inflight));
    sg.inflight = 0;
    if (sg.list.empty()) segs_.reset();  // back to the plain path
  }
  wbuf_.clear();
  // The HTTP message is written once: an idle connection keeps no buffer for it.
  if (upgrade_write_ || wbuf_.capacity() > max_retained_write_buffer) std::string().swap(wbuf_);
  if (ec) {
    transport_failed(ec);
    return;
  }
  if (std::exchange(upgrade_write_, false)) owner_->upgrade_written();
}

void driver::drop_queued_output() noexcept {
  // Queued frames are dropped; the ones in flight stay alive until their write completes.
  if (!segs_) return;
  auto& sg = *segs_;
  for (std::size_t i = sg.inflight; i < sg.list.size(); ++i) sg.bytes -= sg.list[i].bytes().size();
  sg.list.resize(sg.inflight);
  if (sg.list.empty()) segs_.reset();
}

}  // namespace closewise::net::detail
