// closewise::net (private): the observer a reconnecting client gives its connections.
#pragma once

#include <memory>

#include "closewise/metrics/observer.hpp"

namespace closewise::net::detail {

/// Forwards a connection's events to `target`, except the messages the
/// connection hands back: the reconnecting client queues those again, and
/// reports only what it finally hands to the application.
std::shared_ptr<metrics::observer> connection_observer(std::shared_ptr<metrics::observer> target);

}  // namespace closewise::net::detail
