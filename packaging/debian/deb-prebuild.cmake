# CPack pre-build script (CPACK_PRE_BUILD_SCRIPTS): runs once the components
# are installed in the staging folder, with the CPACK_ variables of the run,
# so it knows the version actually packaged (cpack -D CPACK_PACKAGE_VERSION=
# included). It writes each package's /usr/share/doc/PACKAGE/changelog.gz:
# packaging/debian/changelog, plus a first entry for the packaged version
# when that file has none (a local or test rebuild), compressed with gzip -9n
# as Debian policy wants.

set(version "${CPACK_PACKAGE_VERSION}")
if(CPACK_DEBIAN_PACKAGE_VERSION)
  set(version "${CPACK_DEBIAN_PACKAGE_VERSION}")
endif()
set(maint "${CPACK_DEBIAN_PACKAGE_MAINTAINER}")
file(READ "${CPACK_MC_DEB_CHANGELOG}" log)
string(REPLACE "@MAINTAINER@" "${maint}" log "${log}")
string(REGEX MATCH "^[a-z0-9.+-]+ \\(([^)]+)\\)" top "${log}")
if(NOT CMAKE_MATCH_1 STREQUAL version)
  # SOURCE_DATE_EPOCH, when set, makes the date (and so the package) reproducible.
  string(TIMESTAMP now "%a, %d %b %Y %H:%M:%S +0000" UTC)
  set(log "miscomm (${version}) unstable; urgency=medium\n\n  * Rebuild of ${CMAKE_MATCH_1} as ${version}.\n\n -- ${maint}  ${now}\n\n${log}")
endif()

find_program(GZIP gzip REQUIRED)
foreach(comp ${CPACK_COMPONENTS_ALL})
  string(TOUPPER ${comp} COMP)
  set(pkg "${CPACK_DEBIAN_${COMP}_PACKAGE_NAME}")
  set(dir "${CPACK_TEMPORARY_DIRECTORY}/${comp}/usr/share/doc/${pkg}")
  if(NOT pkg OR NOT IS_DIRECTORY "${dir}")
    message(FATAL_ERROR "deb-prebuild: no ${dir} (component ${comp})")
  endif()
  file(WRITE "${dir}/changelog" "${log}")
  execute_process(COMMAND ${GZIP} -9nf "${dir}/changelog" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "deb-prebuild: gzip ${dir}/changelog failed")
  endif()
endforeach()
