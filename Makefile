# Thin wrapper around CMake. 'make run' and 'make test' do all set-up on a
# fresh Debian machine: missing packages, the optimized wolfSSL, the build.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_WIN  ?= build-windows
CMAKE_OPTS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DMC_FUZZ=ON
CONFIG     ?= conf/miscomm.ini
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build run test asan fuzz clean format deb windows test-windows

all: build

deps:
	@bash scripts/deps.sh
	@bash scripts/build-wolfssl.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_OPTS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@bash scripts/firstrun.sh
	exec $(BUILD)/miscommd -c $(CONFIG)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The Debian packages (packaging/debian/package.cmake): miscomm, libmiscomm0
# and libmiscomm-dev, VERSION from CMakeLists.txt, in $(BUILD)/deb/.
deb: build
	@cmake --build $(BUILD) --target deb
	@ls -1 $(BUILD)/deb/*.deb

# The Windows binaries, cross-built with mingw-w64 (cmake/mingw-w64.cmake)
# against static libraries built from Debian's source packages
# (scripts/build-windows-deps.sh), and their installer (NSIS,
# packaging/windows/miscomm.nsi), in $(BUILD_WIN)/.
windows:
	@bash scripts/deps-windows.sh
	@bash scripts/build-windows-deps.sh
	@cmake -S . -B $(BUILD_WIN) -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD_WIN) -j $(JOBS)
	@makensis -V2 -DBIN=$(CURDIR)/$(BUILD_WIN) -DVERSION=$$(sed -n 's/^project(miscomm VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt) \
		-DOUT=$(CURDIR)/$(BUILD_WIN)/miscomm-setup.exe packaging/windows/miscomm.nsi
	@ls -1 $(BUILD_WIN)/*.exe $(BUILD_WIN)/*.dll

# The Windows binaries under Wine (tests/windows/run.sh), against the Linux build.
test-windows: windows build
	@bash tests/windows/run.sh $(BUILD_WIN) $(BUILD)

asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DMC_SANITIZE=ON -DMC_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)/CMakeFiles $(BUILD)/CMakeCache.txt $(BUILD_ASAN)
