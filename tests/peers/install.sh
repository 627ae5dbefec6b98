#!/usr/bin/env bash
# Creates target/pyenv and installs the pinned Pydantic AI peer used by
# tests/peers/pydantic_ai_trace.py. Idempotent: safe to run again.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/target/pyenv"

if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ]; then
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >/dev/null
            apt-get install -y -qq python3-venv >/dev/null
        else
            echo "install.sh: python3 venv module missing; install python3-venv" >&2
            exit 1
        fi
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
fi

"$venv/bin/pip" install -q --disable-pip-version-check \
    pydantic-ai-slim==2.68.0 \
    opentelemetry-sdk==1.45.2 \
    opentelemetry-api==1.45.2 \
    opentelemetry-semantic-conventions==0.66b2 \
    pydantic-graph==2.68.0 \
    pydantic==2.14.4 \
    pydantic_core==2.50.5 \
    annotated-types==0.8.0 \
    anyio==4.16.0 \
    genai-prices==0.2.3 \
    griffelib==2.4.1 \
    h11==0.16.0 \
    httpcore2==2.16.2 \
    httpx2==2.16.2 \
    idna==3.20 \
    logfire-api==5.6.0 \
    truststore==0.10.5 \
    typing-inspection==0.4.5 \
    typing_extensions==4.16.0
