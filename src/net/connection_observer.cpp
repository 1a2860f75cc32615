#include "connection_observer.hpp"

namespace closewise::net::detail {
namespace {

// A net::client reports only the hooks below (src/net/client.cpp); undelivered
// is left out on purpose.
class forward_connection final : public metrics::observer {
 public:
  explicit forward_connection(std::shared_ptr<metrics::observer> t) : t_(std::move(t)) {}
  void connection_opened(metrics::role r) override { t_->connection_opened(r); }
  void connection_closed(metrics::role r, const close_event& ev) override {
    t_->connection_closed(r, ev);
  }
  void connect_failed(metrics::role r, std::error_code why) override { t_->connect_failed(r, why); }
  void handshake_refused(metrics::role r, unsigned status) override {
    t_->handshake_refused(r, status);
  }
  void resumed(metrics::role r) override { t_->resumed(r); }
  void resume_failed(metrics::role r, std::string_view cause) override {
    t_->resume_failed(r, cause);
  }
  void replayed(metrics::role r, std::size_t n) override { t_->replayed(r, n); }

 private:
  std::shared_ptr<metrics::observer> t_;
};

}  // namespace

std::shared_ptr<metrics::observer> connection_observer(std::shared_ptr<metrics::observer> target) {
  return std::make_shared<forward_connection>(std::move(target));
}

}  // namespace closewise::net::detail
