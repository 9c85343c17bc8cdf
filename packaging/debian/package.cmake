# The Debian packages, made with CPack from the install() rules below
# ('make deb', or 'cmake --build build --target deb'):
#
#   miscomm          miscommd, misctl, miscli, /etc/miscomm, the systemd unit,
#                    man pages; the maintainer scripts in packaging/debian/maint
#   libmiscomm0      the client library, libmiscomm.so.0
#   libmiscomm-dev   its headers and the libmiscomm.so link
#
# The library is split out the Debian way (policy 8.1): a phone app's build
# host or another client program installs it without the gateway, and the
# gateway's host gets no headers. miscli does not need it (it links the
# static library). wolfSSL is the optimized static build (scripts/
# build-wolfssl.sh): no package depends on libwolfssl.
#
# The version is the project's (MC_VERSION); a rebuild with another one,
# without reconfiguring:  cpack --config build/CPackConfig.cmake
#                               -D CPACK_PACKAGE_VERSION=0.1.0+local1
# (tests/packaging/test_deb.py does so to test upgrades).

set(MC_DEB_DIR ${CMAKE_CURRENT_LIST_DIR})
if(NOT MC_WOLFSSL_LOCAL)
  message(WARNING "The Debian packages would link Debian's libwolfssl (no AES-NI or assembly): "
                  "run scripts/build-wolfssl.sh first (tests/packaging/test_deb.py fails on such packages)")
endif()
set(MC_DEB_MAINTAINER "miscomm maintainers <maintainers@users.noreply.b-seed-d435b042.example>"
    CACHE STRING "The Maintainer field of the Debian packages")
# Multiarch library folder, under the packages' prefix (/usr).
if(CMAKE_LIBRARY_ARCHITECTURE)
  set(MC_LIBDIR lib/${CMAKE_LIBRARY_ARCHITECTURE})
else()
  set(MC_LIBDIR lib)
endif()

# -- Man pages, from scdoc sources (docs/man/*.scd), gzip -9n as Debian wants.
find_program(MC_SCDOC scdoc)
find_program(MC_GZIP gzip)
set(MC_MAN_PAGES miscommd.8 misctl.1 miscli.1)
set(MC_MAN_OUT)
foreach(page ${MC_MAN_PAGES})
  set(src ${CMAKE_SOURCE_DIR}/docs/man/${page}.scd)
  set(out ${CMAKE_BINARY_DIR}/man/${page}.gz)
  if(MC_SCDOC AND MC_GZIP)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND sh -c "'${MC_SCDOC}' < '${src}' | '${MC_GZIP}' -9n > '${out}.tmp' && mv '${out}.tmp' '${out}'"
      DEPENDS ${src}
      COMMENT "scdoc ${page}"
      VERBATIM)
  else()
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E echo "the man pages need scdoc (apt-get install scdoc; scripts/deps.sh installs it)"
      COMMAND ${CMAKE_COMMAND} -E false
      VERBATIM)
  endif()
  list(APPEND MC_MAN_OUT ${out})
endforeach()
if(MC_SCDOC AND MC_GZIP)
  add_custom_target(man ALL DEPENDS ${MC_MAN_OUT})
else()
  message(STATUS "scdoc not found: no man pages, and 'make deb' fails until it is installed")
  add_custom_target(man DEPENDS ${MC_MAN_OUT})
endif()

# -- What goes where. Relative destinations are under /usr in the packages.
install(TARGETS miscommd RUNTIME DESTINATION sbin COMPONENT server)
install(TARGETS misctl miscli RUNTIME DESTINATION bin COMPONENT server)
# The packaged configuration and unit only go into the package (CPack
# installs component by component): a plain 'cmake --install' must not
# write over /etc/miscomm/miscomm.ini.
install(FILES ${MC_DEB_DIR}/miscomm.ini DESTINATION /etc/miscomm COMPONENT server
        EXCLUDE_FROM_ALL)
install(FILES ${MC_DEB_DIR}/odbc.ini ${MC_DEB_DIR}/odbcinst.ini
        DESTINATION /etc/miscomm/odbc COMPONENT server EXCLUDE_FROM_ALL)
# The unit as it is: it names the packaged paths (/usr/sbin/miscommd,
# /usr/bin/misctl); tests/packaging/test_deb.py runs systemd-analyze verify
# on the installed copy, which fails if a program it names is missing.
install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/miscommd.service
        DESTINATION /lib/systemd/system COMPONENT server EXCLUDE_FROM_ALL)
install(FILES ${CMAKE_BINARY_DIR}/man/miscommd.8.gz DESTINATION share/man/man8 COMPONENT server)
install(FILES ${CMAKE_BINARY_DIR}/man/misctl.1.gz ${CMAKE_BINARY_DIR}/man/miscli.1.gz
        DESTINATION share/man/man1 COMPONENT server)
# The unit's Documentation= names admin.md uncompressed.
install(FILES ${CMAKE_SOURCE_DIR}/docs/admin.md DESTINATION share/doc/miscomm COMPONENT server)
install(FILES ${MC_DEB_DIR}/README.Debian DESTINATION share/doc/miscomm COMPONENT server)

install(TARGETS miscomm LIBRARY DESTINATION ${MC_LIBDIR} COMPONENT lib NAMELINK_SKIP)
install(TARGETS miscomm LIBRARY DESTINATION ${MC_LIBDIR} COMPONENT dev NAMELINK_ONLY)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/miscomm DESTINATION include COMPONENT dev
        FILES_MATCHING PATTERN "*.h")
install(FILES ${CMAKE_SOURCE_DIR}/docs/protocol.md DESTINATION share/doc/libmiscomm-dev
        COMPONENT dev)

# copyright in every package's doc folder; changelog.gz is written by
# deb-prebuild.cmake, which knows the version being packaged.
foreach(pair server:miscomm lib:libmiscomm0 dev:libmiscomm-dev)
  string(REPLACE ":" ";" pair ${pair})
  list(GET pair 0 comp)
  list(GET pair 1 pkg)
  install(FILES ${MC_DEB_DIR}/copyright DESTINATION share/doc/${pkg} COMPONENT ${comp})
endforeach()

# -- CPack: three .deb files, miscomm_VERSION_amd64.deb and the two libraries.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME miscomm)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/deb)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server lib dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${MC_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SOURCE miscomm)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
# A shlibs file for libmiscomm0 ("libmiscomm 0 libmiscomm0 (>= VERSION)");
# the other packages hold no shared library, so get none.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_PRE_BUILD_SCRIPTS ${MC_DEB_DIR}/deb-prebuild.cmake)
# Read by deb-prebuild.cmake (CPack passes on the CPACK_ variables only).
set(CPACK_MC_DEB_CHANGELOG ${MC_DEB_DIR}/changelog)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME miscomm)
set(CPACK_DEBIAN_SERVER_PACKAGE_SECTION net)
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_SERVER_PACKAGE_SUGGESTS "libsqliteodbc, odbc-postgresql")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    ${MC_DEB_DIR}/maint/conffiles ${MC_DEB_DIR}/maint/postinst
    ${MC_DEB_DIR}/maint/prerm ${MC_DEB_DIR}/maint/postrm)
set(CPACK_DEBIAN_SERVER_DESCRIPTION "secure gateway between field devices and a service desk
miscomm is a TLS gateway on TCP port 9000 between field technicians'
mobile apps and the service-desk system: it checks what each connection
may do, serves the devices' file folders (resumable, SHA-256 checked
transfers) and runs their database queries through ODBC.
.
This package holds the daemon (miscommd, run by systemd as the miscomm
user), the administrator's tool misctl and the command-line client miscli.
A random password for the default connection is made at installation,
and a self-signed certificate on the first start.")

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libmiscomm0)
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
# ldconfig through the dpkg trigger. CPack also writes a postinst and postrm
# that call ldconfig (lintian: maintscript-calls-ldconfig, a warning); there
# is no switch to stop it, and empty scripts of ours would be another warning.
set(CPACK_DEBIAN_LIB_PACKAGE_CONTROL_EXTRA ${MC_DEB_DIR}/maint-lib/triggers)
set(CPACK_DEBIAN_LIB_DESCRIPTION "client library for the miscomm gateway
libmiscomm connects to a miscomm gateway over TLS (certificate pinning,
pre-shared keys, client certificates), logs in, and runs the gateway's
operations: ping, resumable file transfers with SHA-256 checks, streams,
and database queries through the gateway.")

set(CPACK_COMPONENT_DEV_DEPENDS lib)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libmiscomm-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION "client library for the miscomm gateway - development files
libmiscomm connects to a miscomm gateway over TLS and runs its operations.
.
This package holds the C headers (miscomm/client.h and the others it
includes), the link for -lmiscomm and the wire protocol's description.")

include(CPack)

# 'cmake --build build --target deb': everything the packages hold, then cpack.
add_custom_target(deb
  COMMAND sh -c "rm -f '${CPACK_PACKAGE_DIRECTORY}'/*.deb"
  COMMAND ${CMAKE_CPACK_COMMAND} --config ${CMAKE_BINARY_DIR}/CPackConfig.cmake
  WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
  COMMENT "Building the Debian packages in ${CPACK_PACKAGE_DIRECTORY}"
  VERBATIM)
add_dependencies(deb miscommd misctl miscli miscomm man)

# The package test: build, install, run, upgrade, purge (root only). Not in
# sanitizer builds ('make asan'): nobody ships those, and their programs
# would run installed, outside the sanitizer settings of the suite.
if(BUILD_TESTING AND NOT MC_SANITIZE AND NOT MC_TSAN)
  add_test(NAME deb_package
           COMMAND ${MC_PYTHON} test_deb.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/packaging)
  # RUN_SERIAL: it installs into and purges from the machine itself, which
  # other tests look at (/etc/miscomm, /usr/sbin/miscommd). The timeout
  # leaves room for waiting (up to 600 s) on a run from another ctest.
  set_tests_properties(deb_package PROPERTIES
    ENVIRONMENT "MISCOMM_BUILD=${CMAKE_BINARY_DIR};MC_CPACK=${CMAKE_CPACK_COMMAND};PYTHONDONTWRITEBYTECODE=1"
    SKIP_RETURN_CODE 77
    RUN_SERIAL TRUE
    TIMEOUT 1500)
endif()
