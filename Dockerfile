# The standalone emulator as a container image. It is built FROM scratch
# around a static binary built beforehand, so that building the image needs
# neither a Go toolchain nor a base image from a registry. The build
# context is a directory holding four files:
#
#   ctx=$(mktemp -d)
#   CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$ctx/webpubsub-emulator" ./cmd/webpubsub-emulator
#   printf 'emulator:x:10001:10001:webpubsub emulator:/:/sbin/nologin\n' > "$ctx/passwd"
#   cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
#   cp Dockerfile "$ctx/"
#   podman build --format docker -t webpubsub-emulator "$ctx"    # or docker build
#
# (--format docker keeps the HEALTHCHECK, which the OCI format has no
# field for.) Run it with:
#
#   podman run --rm -p 8080:8080 webpubsub-emulator
#
# The CA certificates let the emulator call event handlers over https; the
# passwd entry gives the non-root user a name.
FROM scratch
COPY passwd /etc/passwd
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY webpubsub-emulator /webpubsub-emulator
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=2s --retries=3 \
  CMD ["/webpubsub-emulator", "-health-check", "http://127.0.0.1:8080/api/health"]
ENTRYPOINT ["/webpubsub-emulator", "-host", "0.0.0.0"]
CMD ["-port", "8080"]
