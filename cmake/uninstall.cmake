# The uninstall target: removes the files install_manifest.txt lists, then
# each directory that held one and its parents, once empty, up to (not
# including) the prefix the install went to.
#
#   cmake -DMANIFEST=build/install_manifest.txt -DPREFIX_FILE=build/install_prefix.txt -P uninstall.cmake
if(NOT EXISTS "${MANIFEST}")
  message(FATAL_ERROR "uninstall: no ${MANIFEST}; nothing was installed from this build directory")
endif()
file(STRINGS "${MANIFEST}" installed)
set(prefix "")
if(EXISTS "${PREFIX_FILE}")
  file(READ "${PREFIX_FILE}" prefix)
  get_filename_component(prefix "$ENV{DESTDIR}${prefix}" ABSOLUTE)
endif()

set(holders "")
foreach(path IN LISTS installed)
  if(EXISTS "${path}" OR IS_SYMLINK "${path}")
    message(STATUS "Removing ${path}")
    file(REMOVE "${path}")
  endif()
  get_filename_component(dir "${path}" DIRECTORY)
  list(APPEND holders "${dir}")
endforeach()
list(REMOVE_DUPLICATES holders)

# Walk up from each holder while it lies inside the prefix and is empty.
# Without a known prefix, directories stay.
if(prefix)
  foreach(dir IN LISTS holders)
    while(IS_DIRECTORY "${dir}")
      string(FIND "${dir}" "${prefix}/" at)
      if(NOT at EQUAL 0)
        break()
      endif()
      file(GLOB left LIST_DIRECTORIES true "${dir}/*") # "*" matches dot files too
      if(left)
        break()
      endif()
      message(STATUS "Removing empty directory ${dir}")
      file(REMOVE_RECURSE "${dir}")
      get_filename_component(dir "${dir}" DIRECTORY)
    endwhile()
  endforeach()
endif()
