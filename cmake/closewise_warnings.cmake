add_library(closewise_warnings INTERFACE)
target_compile_options(closewise_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       $<$<BOOL:${CLOSEWISE_WERROR}>:-Werror>)

if(CLOSEWISE_SANITIZE)
  add_compile_options(-fsanitize=${CLOSEWISE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${CLOSEWISE_SANITIZE})
endif()
