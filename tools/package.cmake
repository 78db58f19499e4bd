# What `cmake --install` puts on a machine, and the .deb `cpack -G DEB` makes of it (run in a
# build tree after building; scripts/package does both): the three binaries, the
# mount.fuse.stratafs helper link (so `mount -t fuse.stratafs` finds a helper by name), man
# pages generated from tools/man/*.md with go-md2man, bash completion, the snapshotter's
# systemd unit, and the Debian dependencies dpkg-shlibdeps finds plus fuse3.

# Installing (and cpack) takes what is built, without building everything else first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)
install(TARGETS stratafs strata strata-snapshotter RUNTIME DESTINATION bin)
install(CODE "file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/sbin\")
  file(CREATE_LINK mount.fuse3 \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/sbin/mount.fuse.stratafs\" SYMBOLIC)")

find_program(GO_MD2MAN go-md2man)
find_program(GZIP gzip REQUIRED)
if(GO_MD2MAN)
  set(man_pages)
  foreach(page stratafs strata strata-snapshotter)
    set(out ${CMAKE_BINARY_DIR}/man/${page}.1.gz)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND ${GO_MD2MAN} -in ${CMAKE_SOURCE_DIR}/tools/man/${page}.1.md -out ${CMAKE_BINARY_DIR}/man/${page}.1
      COMMAND ${GZIP} -9nf ${CMAKE_BINARY_DIR}/man/${page}.1
      DEPENDS ${CMAKE_SOURCE_DIR}/tools/man/${page}.1.md
      COMMENT "Generating the ${page}(1) man page")
    list(APPEND man_pages ${out})
  endforeach()
  # The helper link's page is mount.fuse3's; both small files are made at configure time.
  set(helper_page ${CMAKE_BINARY_DIR}/man/mount.fuse.stratafs.8.gz)
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/man)
  file(WRITE ${CMAKE_BINARY_DIR}/man/mount.fuse.stratafs.8 ".so man8/mount.fuse3.8\n")
  execute_process(COMMAND ${GZIP} -9nf ${CMAKE_BINARY_DIR}/man/mount.fuse.stratafs.8)
  execute_process(COMMAND ${GZIP} -9nc ${CMAKE_SOURCE_DIR}/tools/changelog
                  OUTPUT_FILE ${CMAKE_BINARY_DIR}/changelog.gz)
  add_custom_target(man ALL DEPENDS ${man_pages})
  install(FILES ${man_pages} DESTINATION share/man/man1)
  install(FILES ${helper_page} DESTINATION share/man/man8)
  install(FILES ${CMAKE_BINARY_DIR}/changelog.gz DESTINATION share/doc/strata)
else()
  message(STATUS "go-md2man not found: no man pages (scripts/install-deps installs it)")
endif()
install(FILES ${CMAKE_SOURCE_DIR}/tools/completion/strata.bash
        DESTINATION share/bash-completion/completions RENAME strata)
configure_file(${CMAKE_SOURCE_DIR}/tools/snapshotter/strata-snapshotter.service.in
               ${CMAKE_BINARY_DIR}/strata-snapshotter.service @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/strata-snapshotter.service DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/tools/copyright DESTINATION share/doc/strata)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME strata)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "strata maintainers <strata@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "userspace overlay filesystem and image store for containers")
set(CPACK_PACKAGE_DESCRIPTION
    "stratafs stacks read-only image layers under a writable layer with FUSE,\n in kernel overlayfs's format, as a drop-in for fuse-overlayfs. strata\n imports, pulls, mounts, commits, saves and pushes images. strata-snapshotter\n runs containerd's containers on stratafs.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "podman, containerd")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})  # scripts/package: /usr
set(CPACK_STRIP_FILES ON)
include(CPack)
