# syncgate: static binary + guests + schemas in a distroless, non-root image.
# -tags nodevdb leaves the embedded development database (FerretDB + SQLite)
# out of the binary (about half its size): the image needs MONGO_URI.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -tags nodevdb -trimpath -ldflags "-s -w" -o /out/syncgate ./host/cmd/syncgate \
 && mkdir -p /out/guests \
 && for d in guest/schemagate guest/examples/*/ guest/policies/*/; do d=${d%/}; [ -f "$d/main.go" ] || continue; \
      GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o /out/guests/${d##*/}.wasm ./$d; done

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/syncgate /app/syncgate
COPY --from=build /out/guests /app/guests
COPY schemas /app/schemas
ENV ADDR=0.0.0.0:8090 GUESTS_DIR=/app/guests SCHEMAS_DIR=/app/schemas SYNCGATE_DIR=/tmp/syncgate
USER nonroot:nonroot
EXPOSE 8090
ENTRYPOINT ["/app/syncgate", "serve"]
