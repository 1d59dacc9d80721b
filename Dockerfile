# Vigil in a container: built with Swift on Ubuntu 24.04, run on a slim Ubuntu 24.04 with librdkafka.
# Ubuntu 24.04 ships librdkafka 2.3.0, new enough (>= 2.2), so no source build is needed here.
#   docker build -t vigil:local .      (docker compose up builds it for you)

ARG SWIFT_IMAGE=swift:6.3-noble

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       librdkafka-dev pkg-config libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Package manifest first, so dependency resolution is cached across source edits.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product vigil --static-swift-stdlib \
    && install -m 0755 "$(swift build -c release --show-bin-path)/vigil" /usr/local/bin/vigil

FROM ubuntu:24.04 AS runtime
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends librdkafka1 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home vigil
COPY --from=build /usr/local/bin/vigil /usr/local/bin/vigil
COPY configs /etc/vigil
USER vigil
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["run", "--config", "/etc/vigil/vigil.yaml", "--http-listen", "0.0.0.0:9464"]
