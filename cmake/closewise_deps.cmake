# Every dependency comes from Debian 12's packages.
find_package(Threads REQUIRED)
find_package(Boost 1.81.0 EXACT REQUIRED COMPONENTS url CONFIG)
find_package(OpenSSL 3 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3 REQUIRED)

# The Redis session store (docs/resume.md §8.3) needs hiredis. AUTO builds it
# when hiredis is found; ON requires it (and CI=true turns AUTO into ON, so CI
# never silently drops the store).
set(CLOSEWISE_REDIS AUTO CACHE STRING "Build the Redis session store: AUTO, ON or OFF")
set_property(CACHE CLOSEWISE_REDIS PROPERTY STRINGS AUTO ON OFF)
set(_cw_redis ${CLOSEWISE_REDIS})
if(_cw_redis STREQUAL "AUTO" AND "$ENV{CI}" STREQUAL "true")
  set(_cw_redis ON)
endif()
set(CLOSEWISE_HAVE_REDIS OFF)
if(NOT _cw_redis STREQUAL "OFF")
  find_package(PkgConfig)
  if(PkgConfig_FOUND)
    pkg_check_modules(HIREDIS IMPORTED_TARGET hiredis)
  endif()
  if(TARGET PkgConfig::HIREDIS)
    set(CLOSEWISE_HAVE_REDIS ON)
  elseif(_cw_redis STREQUAL "ON")
    message(FATAL_ERROR "CLOSEWISE_REDIS=ON (or CI=true) but hiredis was not found: install libhiredis-dev (scripts/deps.sh)")
  endif()
endif()
