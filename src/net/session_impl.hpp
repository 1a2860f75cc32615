// closewise::net (private): one accepted connection on a server.
#pragma once

#include <cstdint>
#include <memory>

#include "closewise/net/session.hpp"
#include "driver.hpp"
#include "resume_server.hpp"
#include "server_shared.hpp"

namespace closewise::net::detail {

/// The server's half of the HTTP upgrade (RFC 6455 §4.2) and the session's
/// callbacks; everything after open is the driver's.
class session_impl final : public session, public driver_owner {
 public:
  /// `counted`: the session holds a max_connections slot; otherwise it was
  /// accepted over the limit and is only there to be turned away.
  /// `ctx`: the io_context `sock` belongs to (server_shared::next_context).
  session_impl(std::shared_ptr<server_shared> shared, asio::io_context& ctx, socket_type sock,
               const tcp::endpoint& remote, bool counted);
  ~session_impl() override;

  /// Starts the TLS and HTTP handshakes on the session's own executor.
  void launch();
  driver& drv() noexcept { return drv_; }
  const driver& drv() const noexcept { return drv_; }
  /// The resume link of an open resumed connection (set before on_open).
  resume_link* resume_link_or_null() const noexcept { return rs_ ? rs_->link.get() : nullptr; }
  std::shared_ptr<session_impl> shared_impl() {
    return std::static_pointer_cast<session_impl>(shared_from_this());
  }

  std::uint64_t id_ = 0;
  /// Null until the session opened (request() is only reachable after that).
  std::shared_ptr<const request_info> info_;
  tcp::endpoint remote_;
  session_impl* prev_ = nullptr;  // guarded by server_shared::mu, like the three below
  session_impl* next_ = nullptr;
  bool linked_ = false;
  bool in_shutdown_ = false;  ///< part of the shutdown's count

 private:
  void start();
  void accept(std::string_view subprotocol, char* rest, std::size_t rest_size,
              std::string_view extensions = {});
  void close_1013(const std::string& reason, char* rest, std::size_t rest_size);
  void refuse(std::string response);
  void release_slot() noexcept;

  // resume_server.cpp (docs/resume.md §10 "Server")
  using resume_step = void (session_impl::*)(std::error_code, resume::session_store::session_ptr);
  void negotiate_resume(resume::offer o, std::string subprotocol, char* rest, std::size_t size);
  std::function<void(std::error_code, resume::session_store::session_ptr)> on_store(
      resume_step step);
  std::function<void()> preempt_me();
  void resume_attached(std::error_code ec, resume::session_store::session_ptr p);
  void resume_created(std::error_code ec, resume::session_store::session_ptr p);
  void resume_accept();
  void resume_report();
  void resume_ended(const close_event& ev);
  void resume_hand_back(std::vector<resume::message> msgs, std::error_code why);
  void on_extension_control(std::uint8_t op, std::string_view payload) override;
  void on_close_frame(close_code code, std::string_view reason) override;

  // driver_owner
  void upgrade_bytes(char* data, std::size_t size) override;
  void upgrade_written() override;
  void tls_handshake_done(const boost::system::error_code& ec) override;
  void ended_before_open(std::error_code why, initiator who) override;
  void ended(const close_event& ev) override;
  void drained() override;
  void before_local_close() override;
  // proto::handler: messages go straight to the application
  void on_message(proto::message_kind kind, std::string_view payload) override;
  void on_closed(const close_event&) override {}

  // Beside the two flags above, so they share one word.
  bool counted_;     ///< holds a max_connections slot
  const bool shed_;  ///< accepted over max_connections: turned away
  std::shared_ptr<server_shared> shared_;
  std::unique_ptr<proto::server_handshake> hs_;
  std::unique_ptr<server_resume> rs_;  ///< null: a plain connection
  driver drv_;
};

}  // namespace closewise::net::detail
