# infermeter: one static binary on an empty (scratch) image, run as a non-root user.
#
#   docker build -t infermeter:0.1.0 .
#   docker run --rm -p 8080:8080 -p 9090:9090 \
#     -v "$PWD/examples/demo.yaml:/etc/infermeter/infermeter.yaml:ro" infermeter:0.1.0
#
# The config is read from /etc/infermeter/infermeter.yaml (mount a file or a
# ConfigMap there); arguments after the image name are appended, e.g. -check.
# Set data_dir to /var/lib/infermeter, a volume owned by the runtime user.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static: no cgo, no libc at run time. Org time zones come from the embedded
# time/tzdata, so the runtime image needs no zoneinfo.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o /out/infermeter . \
 && mkdir -p /out/data

FROM scratch
# CA certificates (for the providers' HTTPS) from the build stage; the
# runtime user is a bare uid:gid (no passwd file needed).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/infermeter /usr/local/bin/infermeter
COPY --from=build --chown=65532:65532 /out/data /var/lib/infermeter
USER 65532:65532
VOLUME ["/var/lib/infermeter"]
# 8080: the proxy (proxy_listen); 9090: admin API, dashboard, /metrics, /healthz, /readyz (admin_listen).
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/infermeter", "-config", "/etc/infermeter/infermeter.yaml"]
