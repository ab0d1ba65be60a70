# syntax=docker/dockerfile:1
# The byoc-operator image: the `byoc` binary on distroless, running as an unprivileged user.
#   docker build -t byoc-operator:0.1.0 .
# tests/packaging.rs checks that the COPY below takes the binary `cargo build --release` produces.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked --bin byoc

# cc: glibc and libgcc for the Rust binary, CA certificates for the Kubernetes and AWS APIs.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/byoc /byoc
USER 65532:65532
ENTRYPOINT ["/byoc"]
CMD ["controller"]
