# Builds the mock LLM upstream used by the tests and the demo.
FROM rust:1-slim AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p mock-llm
FROM debian:bookworm-slim
COPY --from=build /src/target/release/mock-llm /usr/local/bin/mock-llm
EXPOSE 8000
CMD ["mock-llm", "--port", "8000"]
