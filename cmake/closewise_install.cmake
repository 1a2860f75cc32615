include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(_cw_cmakedir ${CMAKE_INSTALL_LIBDIR}/cmake/closewise)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/closewise DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(_cw_targets closewise closewise_vocab closewise_proto closewise_policy closewise_metrics closewise_net
  closewise_resume)
if(CLOSEWISE_HAVE_REDIS)
  list(APPEND _cw_targets closewise_resume_redis)
endif()
install(TARGETS ${_cw_targets}
        EXPORT closewise-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT closewise-targets NAMESPACE closewise:: DESTINATION ${_cw_cmakedir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/closewise-config.cmake.in
  ${PROJECT_BINARY_DIR}/closewise-config.cmake INSTALL_DESTINATION ${_cw_cmakedir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/closewise-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/closewise-config.cmake
              ${PROJECT_BINARY_DIR}/closewise-config-version.cmake
        DESTINATION ${_cw_cmakedir})
if(CLOSEWISE_BUILD_TOOLS)
  install(TARGETS closewise_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
