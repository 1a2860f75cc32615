add_library(closewise_warnings INTERFACE)
target_compile_options(closewise_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       $<$<BOOL:${CLOSEWISE_WERROR}>:-Werror>)

if(CLOSEWISE_SANITIZE)
  add_compile_options(-fsanitize=${CLOSEWISE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${CLOSEWISE_SANITIZE})
endif()

if(CLOSEWISE_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 warns (-Wtsan) wherever Asio's handler completion inlines
  # std::atomic_thread_fence, which TSan does not model; under -Werror the
  # warning would fail every TU that completes an Asio operation.
  target_compile_options(closewise_warnings INTERFACE -Wno-tsan)
endif()
