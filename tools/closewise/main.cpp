// closewise: a command-line tool built on the public closewise API.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <map>
#include <string>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"closewise: WebSocket close codes, made first-class. Close right, reconnect right."};
  app.name("closewise");
  app.require_subcommand(1);
  std::map<std::string, closewise::cli::runner> runners;
  auto add = [&](const char* name, closewise::cli::runner r) {
    runners.emplace(name, std::move(r));
  };
  add("codes", closewise::cli::add_codes_command(app));
  add("connect", closewise::cli::add_connect_command(app));
  add("serve", closewise::cli::add_serve_command(app));
  add("demo", closewise::cli::add_demo_command(app));
  add("proxy", closewise::cli::add_proxy_command(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints help/usage itself; make every other error one clear line.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "closewise: %s\n", e.what());
    std::fprintf(stderr, "Run 'closewise --help' for usage.\n");
    return 2;
  }
  for (const auto* sub : app.get_subcommands()) {
    try {
      return runners.at(sub->get_name())();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "closewise %s: %s\n", sub->get_name().c_str(), e.what());
      return 1;
    }
  }
  return 2;
}
