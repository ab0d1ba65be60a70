# syntax=docker/dockerfile:1
# The byoc-operator image: the `byoc` binary on distroless, running as an unprivileged user.
#
#   docker build -t byoc-operator:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/byoc-operator:TAG --push .
#
# The builder stage runs on the build machine's own platform and cross-compiles for each target
# platform, without emulation: Rust's target for TARGETARCH, and Debian's cross C toolchain, which
# compiles the C of aws-lc-sys and ring and links the binary. The builder's Debian release
# (bookworm) is the runtime's (distroless cc-debian12), so the binary needs no newer glibc than the
# image has.
# Build arguments: BYOC_GIT_COMMIT, the commit `byoc version` shows (.git is not in the context),
# and SOURCE_DATE_EPOCH, the build date it shows; the release workflow sets both.
# tests/packaging.rs checks the platforms' targets and linkers, and that the runtime stage copies
# the binary cargo builds.

FROM --platform=$BUILDPLATFORM rust:1.95-bookworm AS builder
# C compiler, archiver and linker of each target, for Cargo and the cc crate. Natively these are
# the machine's own tools under their target-prefixed names.
ENV CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=x86_64-linux-gnu-gcc \
    CC_x86_64_unknown_linux_gnu=x86_64-linux-gnu-gcc \
    AR_x86_64_unknown_linux_gnu=x86_64-linux-gnu-ar \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# cargo-auditable embeds the list of crates in the binary, so the image's SBOM (BuildKit's
# scanner) names every crate compiled into it, not only the runtime image's Debian packages.
# Built once for both platforms: nothing above this line depends on the target.
RUN cargo install cargo-auditable --locked --version 0.7.7
ARG TARGETARCH
# The cross toolchain is Debian's for the base image's point release: not pinned to a version.
# hadolint ignore=DL3008
RUN case "$TARGETARCH" in \
      amd64) target=x86_64-unknown-linux-gnu gcc=gcc-x86-64-linux-gnu libc=libc6-dev-amd64-cross ;; \
      arm64) target=aarch64-unknown-linux-gnu gcc=gcc-aarch64-linux-gnu libc=libc6-dev-arm64-cross ;; \
      *) echo "unsupported TARGETARCH=$TARGETARCH: build for linux/amd64 or linux/arm64" >&2; exit 1 ;; \
    esac \
    && if [ "$(dpkg --print-architecture)" != "$TARGETARCH" ]; then \
         apt-get update \
         && apt-get install -y --no-install-recommends "$gcc" "$libc" \
         && rm -rf /var/lib/apt/lists/*; \
       fi \
    && rustup target add "$target" \
    && echo "$target" >/rust-target

WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
ARG BYOC_GIT_COMMIT
ARG SOURCE_DATE_EPOCH
# One registry and target cache per platform, so both platforms build at once without sharing
# Cargo's locks across containers.
RUN --mount=type=cache,target=/usr/local/cargo/registry,id=byoc-cargo-registry-$TARGETARCH,sharing=locked \
    --mount=type=cache,target=/src/target,id=byoc-target-$TARGETARCH,sharing=locked \
    target="$(cat /rust-target)" \
    && cargo auditable build --release --locked --bin byoc --target "$target" \
    && cp "target/$target/release/byoc" /usr/local/bin/byoc

# cc: glibc and libgcc for the Rust binary, CA certificates for the Kubernetes and AWS APIs.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="byoc-operator" \
      org.opencontainers.image.description="Deploy container services into your own AWS account from Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /usr/local/bin/byoc /byoc
USER 65532:65532
ENTRYPOINT ["/byoc"]
CMD ["controller"]
