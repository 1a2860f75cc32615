// The closewise CLI: one file per command (ARCHITECTURE §5).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace closewise::cli {

/// A command's body runs after parsing succeeded; it returns the exit status.
using runner = std::function<int()>;

/// Each command registers its subcommand and flags, and returns its runner.
runner add_codes_command(CLI::App& app);
runner add_connect_command(CLI::App& app);
runner add_serve_command(CLI::App& app);
runner add_demo_command(CLI::App& app);
runner add_proxy_command(CLI::App& app);

/// Text helpers shared by commands.
std::string describe_reconnect(unsigned code);

}  // namespace closewise::cli
