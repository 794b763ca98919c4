#!/usr/bin/env bash
# Shared helpers for the project's scripts: locate Odoo 18, install the system and
# Python prerequisites, and find or start a PostgreSQL server.
# Sourced, not executed.

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${CRM_MAIL_SYNC_RUN_DIR:-$REPO_DIR/.run}"
mkdir -p "$RUN_DIR"

die() { echo "ERROR: $*" >&2; exit 1; }
info() { echo ">> $*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

# Debian packages the project needs (postgresql, dovecot); installed when missing.
ensure_apt_packages() {
    local missing=()
    command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd dovecot-pop3d)
    [ -f /usr/lib/dovecot/pop3 ] || missing+=(dovecot-pop3d)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
        || missing+=(postgresql)
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    info "installing Debian packages: ${missing[*]}"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
        as_root apt-get update -qq >/dev/null 2>&1 || true
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
            || die "could not install ${missing[*]}: install them (apt-get install ${missing[*]}) and run again"
    fi
    # The Debian package starts a system Dovecot on the standard ports; the project
    # runs its own private instances and needs nothing else listening.
    as_root service dovecot stop >/dev/null 2>&1 || true
}

ensure_python_packages() {
    local python="$1"
    if ! "$python" -c "import aiosmtpd, hypothesis, imapclient" >/dev/null 2>&1; then
        info "installing Python packages from requirements.txt"
        local user_flag=()
        # A normal user outside a virtualenv installs into their own site-packages.
        if [ "$(id -u)" != 0 ] && ! "$python" -c "import sys; sys.exit(sys.prefix == sys.base_prefix)"; then
            user_flag=(--user)
        fi
        "$python" -m pip install -q "${user_flag[@]}" -r "$REPO_DIR/requirements.txt" \
            || die "pip install -r requirements.txt failed"
    fi
}

# Sets PYTHON and ODOO_BIN (a command line running odoo-bin) or dies with advice.
find_odoo() {
    PYTHON="${PYTHON:-python3}"
    if [ -n "${ODOO_PATH:-}" ]; then
        [ -f "$ODOO_PATH/odoo-bin" ] || die "ODOO_PATH=$ODOO_PATH is not an Odoo source checkout (no odoo-bin)"
        export PYTHONPATH="$ODOO_PATH${PYTHONPATH:+:$PYTHONPATH}"
        ODOO_BIN=("$PYTHON" "$ODOO_PATH/odoo-bin")
    elif "$PYTHON" -c "import odoo.cli" >/dev/null 2>&1; then
        ODOO_BIN=("$PYTHON" -c "import odoo.cli, sys; sys.argv[0] = 'odoo'; odoo.cli.main()")
    else
        die "Odoo 18.0 was not found. Install Odoo 18.0 Community (a source checkout of the 18.0
branch: pip install -r requirements.txt && pip install -e .) so that '$PYTHON -c \"import odoo\"'
works, or set ODOO_PATH to a source checkout."
    fi
    local version
    version=$("$PYTHON" -c "import odoo.release as r; print(r.version_info[0])" 2>/dev/null) \
        || die "importing odoo failed; check its Python requirements are installed"
    [ "$version" = 18 ] || die "Odoo $version found; this add-on needs Odoo 18.0"
    ODOO_ADDONS="$("$PYTHON" -c "import odoo, os; r = os.path.dirname(os.path.dirname(odoo.__file__)); a = os.path.join(r, 'addons'); print(a if os.path.isdir(a) else '')")"
    [ -n "$ODOO_ADDONS" ] || die "Odoo's addons directory was not found next to the odoo package"
    "$PYTHON" -c "import odoo.addons.base" >/dev/null 2>&1 || die "odoo.addons.base cannot be imported"
    [ -d "$ODOO_ADDONS/crm" ] || die "Odoo's crm add-on is missing from $ODOO_ADDONS"
}

pg_works() {  # host port user
    psql -h "$1" -p "$2" -U "$3" -d postgres -Atqc "select 1" >/dev/null 2>&1
}

# Sets DB_HOST, DB_PORT, DB_USER: the machine's PostgreSQL when one answers (the
# current user's role is created there if needed), else a private cluster in .run/.
ensure_postgres() {
    DB_USER="${PGUSER:-$(id -un)}"
    [ "$DB_USER" = postgres ] && DB_USER=odoo  # Odoo refuses to run as 'postgres'
    DB_HOST="${PGHOST:-127.0.0.1}"
    DB_PORT="${PGPORT:-5432}"
    if [ -z "${CRM_MAIL_SYNC_OWN_PG:-}" ]; then
        if pg_works "$DB_HOST" "$DB_PORT" "$DB_USER"; then return 0; fi
        if pg_works "$DB_HOST" "$DB_PORT" postgres; then
            psql -h "$DB_HOST" -p "$DB_PORT" -U postgres -d postgres -qc \
                "CREATE ROLE \"$DB_USER\" LOGIN CREATEDB" >/dev/null 2>&1 || true
            pg_works "$DB_HOST" "$DB_PORT" "$DB_USER" && return 0
        fi
    fi
    start_own_postgres
}

start_own_postgres() {
    # In the system temp dir when run as root: the 'postgres' user must reach it.
    local bindir pgdata="${CRM_MAIL_SYNC_PG_DIR:-$RUN_DIR/pgdata}" runas=()
    bindir=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1)")
    [ -x "$bindir/initdb" ] || bindir=$(dirname "$(command -v initdb)")
    [ -x "$bindir/initdb" ] || die "PostgreSQL is not installed (apt-get install postgresql)"
    DB_HOST=127.0.0.1
    DB_PORT="${CRM_MAIL_SYNC_PG_PORT:-55432}"
    if [ "$(id -u)" = 0 ]; then
        # PostgreSQL refuses to run as root: the cluster belongs to 'postgres'.
        id postgres >/dev/null 2>&1 || useradd --system --home "$RUN_DIR" postgres
        runas=(runuser -u postgres --)
        [ -n "${CRM_MAIL_SYNC_PG_DIR:-}" ] || pgdata="$(dirname "$(mktemp -u)")/crm-mail-sync-pgdata"
    fi
    if [ ! -f "$pgdata/PG_VERSION" ]; then
        info "creating a private PostgreSQL cluster in $pgdata"
        mkdir -p "$pgdata"
        [ ${#runas[@]} -gt 0 ] && chown postgres "$pgdata"
        "${runas[@]}" "$bindir/initdb" -D "$pgdata" -A trust -U postgres >/dev/null \
            || die "initdb failed"
    fi
    if ! pg_works "$DB_HOST" "$DB_PORT" postgres; then
        info "starting the private PostgreSQL on $DB_HOST:$DB_PORT"
        "${runas[@]}" "$bindir/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w \
            -o "-h 127.0.0.1 -p $DB_PORT -k $pgdata" start >/dev/null \
            || die "PostgreSQL did not start; see $pgdata/server.log"
    fi
    psql -h "$DB_HOST" -p "$DB_PORT" -U postgres -d postgres -qc \
        "CREATE ROLE \"$DB_USER\" LOGIN CREATEDB" >/dev/null 2>&1 || true
    pg_works "$DB_HOST" "$DB_PORT" "$DB_USER" || die "cannot connect to PostgreSQL as $DB_USER"
}
