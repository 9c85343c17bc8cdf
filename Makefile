# Thin wrapper around CMake. 'make run' and 'make test' do all set-up on a
# fresh Debian machine: missing packages, the optimized wolfSSL, the build.
BUILD      ?= build
BUILD_ASAN ?= build-asan
CMAKE_OPTS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DMC_FUZZ=ON
CONFIG     ?= conf/miscomm.ini
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build run test asan fuzz clean format deb

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

asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DMC_SANITIZE=ON -DMC_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)/CMakeFiles $(BUILD)/CMakeCache.txt $(BUILD_ASAN)
