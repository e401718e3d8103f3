# assay's step entry for Kubernetes: every container of an execution's Pod runs it with
# /bin/sh (docs/architecture.md, "Kubernetes runner"). POSIX sh and the image's own `date`,
# `sleep`, `mkdir`, `mv`, `cat` (`cksum` with python3; `awk`, `mkfifo` to mask the values of
# Secret-backed variables; artifacts also need `wc`, and `finish` sending them `find`, `sort`,
# `sed`, `base64`, maybe `sha256sum`): nothing else of ours has to be in a step's image.
#
#   entry.sh step KEY=VALUE... -- COMMAND [ARG...]   run one step, record its status, exit 0
#   entry.sh finish REF...                           the execution's status from the steps' files
#                                                    (JUnit reports first, each line prefixed |;
#                                                    then artifacts in base64, framed: ARTIFACTS)
#   entry.sh clone                                   content.git, from ASSAY_GIT_* variables
#   entry.sh files LIST                              copy content.files ("KEY MODE PATH" lines)
#   entry.sh wait REF                                wait for the runner's signal REF
#
# State lives in $ASSAY_STATE_DIR (default /data/.assay, on the Pod's shared emptyDir):
#   start               epoch seconds when the first container began (the execution deadline)
#   steps/REF           "STATUS EXIT ATTEMPTS SECONDS" of a step that ended or was skipped
#   groups/REF          "run EPOCH" or "skip": a step group's condition, decided by its first step
#   failed blocked timeout error deadline   flags: a non-optional step failed (blocked: and stops
#                       the `passed` steps after it), timed out, errored; the deadline ran out
#   signals/REF         the status a waiting step (parallel, execute) receives from the runner
#   signals/abort       the runner aborts the execution: the running step is stopped, the
#                       rest are `aborted` except `always` ones, which get the grace period
# The runner signals through the Pod's annotations (no pods/exec): `assay.io/signal.REF`
# (a status) and `assay.io/abort` (a reason), which the kubelet writes to the downwardAPI file
# $ASSAY_POD_INFO (default /.assay-pod/annotations: `key="value"` lines, Go-quoted, swapped
# in atomically). A signal found there is copied to signals/ (same meaning as written there).
#   reports/REF-N.xml   pytest's JUnit of attempt N (PYTEST_ADDOPTS, else the file the command's
#                       own --junit-xml names: option xml), for the runner to collect
#   .mask-REF           a FIFO: with option mask=VAR,..., the step's output and report pass
#                       through `masking`, the values of those (Secret-backed) variables `***`
#   venv-KEY/           the steps' virtualenv, one per Python (KEY: a checksum of its path and
#                       version): first on PATH, UV_PYTHON, so that `pip install` and
#                       `uv pip install --system` in one step reach the next (as the local
#                       runner's workspace venv); the image's own packages stay visible
#   artifacts/REF/NAME  a step's `artifacts.paths` files, copied after its last attempt
#   refused/REF         "PATTERN: why" lines: artifacts not collected (outside /data, a link
#                       out of it, over the size cap...); artifacts.size: the bytes kept so far
#   result              the execution's status, written by `finish`
set -u
S="${ASSAY_STATE_DIR:-/data/.assay}"
POD_INFO="${ASSAY_POD_INFO:-/.assay-pod/annotations}"
D=${S%/*} # the Pod's /data: artifacts come only from below it
USER_UMASK=$(umask)
umask 000 # steps may run as different users: state files stay writable by all of them

say() { printf 'assay: %s\n' "$*" >&2; }
now() { date +%s; }
has() { [ -e "$S/$1" ]; }
flag() { : >"$S/$1"; }

setup() {
    mkdir -p "$S/steps" "$S/groups" "$S/signals" "$S/reports" || {
        say "cannot create the state directory $S"
        exit 70
    }
    [ -e "$S/start" ] || now >"$S/start"
}

elapsed() { echo $(($(now) - $(cat "$S/start"))); }

annotation() { # NAME: the value of the Pod's annotation assay.io/NAME (unquoted), or fail
    [ -r "$POD_INFO" ] || return 1
    while IFS= read -r a_line || [ -n "$a_line" ]; do
        case "$a_line" in
        "assay.io/$1="*)
            a_value=${a_line#*=}
            a_value=${a_value#\"}
            printf '%s\n' "${a_value%\"}"
            return 0
            ;;
        esac
    done <"$POD_INFO"
    return 1
}

signalled() { # NAME: the runner's signal NAME (signals/NAME, else the annotation), or fail
    [ -e "$S/signals/$1" ] && return 0
    case "$1" in abort) a_key=abort ;; *) a_key=signal.$1 ;; esac
    a_found=$(annotation "$a_key") || return 1
    printf '%s\n' "$a_found" >"$S/signals/$1.tmp" && mv "$S/signals/$1.tmp" "$S/signals/$1"
}

least() { # the smaller of two numbers, an empty one meaning no limit
    if [ -z "$1" ]; then echo "$2"; elif [ -z "$2" ] || [ "$1" -le "$2" ]; then echo "$1"; else echo "$2"; fi
}

allowed() { # a decided condition: always, never, passed, failed, notfailed
    case "$1" in
    always) return 0 ;;
    never) return 1 ;;
    passed) ! has blocked ;;
    failed) has failed ;;
    notfailed) ! has failed ;;
    *)
        say "unknown condition $1"
        return 1
        ;;
    esac
}

status_of() { # the recorded status of step $1, or "none"
    if [ -e "$S/steps/$1" ]; then read -r word _ <"$S/steps/$1" && echo "$word"; else echo none; fi
}

record() { # REF STATUS EXIT ATTEMPTS SECONDS
    printf '%s %s %s %s\n' "$2" "$3" "$4" "$5" >"$S/steps/$1.tmp" && mv "$S/steps/$1.tmp" "$S/steps/$1"
}

# Enclosing groups, outermost first: "REF:CONDITION:TIMEOUT,...". The first step of a group
# decides its condition and records when it started; `stop_at` becomes the groups' end.
enter_groups() {
    skip_rest=0
    old_ifs=$IFS
    IFS=,
    for group in $1; do
        IFS=$old_ifs
        g_ref=${group%%:*}
        rest=${group#*:}
        g_condition=${rest%%:*}
        g_timeout=${rest#*:}
        if [ ! -e "$S/groups/$g_ref" ]; then
            if [ "$skip_rest" = 0 ] && allowed "$g_condition"; then
                echo "run $(now)" >"$S/groups/$g_ref"
            else
                echo skip >"$S/groups/$g_ref"
            fi
        fi
        read -r decision g_start <"$S/groups/$g_ref"
        [ "$decision" = skip ] && skip_rest=1
        if [ "$decision" = run ] && [ -n "$g_timeout" ]; then
            stop_at=$(least "$stop_at" $((g_start + g_timeout)))
        fi
        IFS=,
    done
    IFS=$old_ifs
    [ "$skip_rest" = 0 ]
}

python_env() { # the steps' shared virtualenv (venv-KEY above), unless VIRTUAL_ENV is set
    [ -z "${VIRTUAL_ENV:-}" ] || return 0
    py=$(command -v python3 2>/dev/null) || return 0
    key=$({ echo "$py" && "$py" -c 'import sys; print(sys.version)'; } 2>/dev/null | cksum) || return 0
    venv="$S/venv-${key%% *}"
    if [ ! -x "$venv/bin/python" ]; then
        if ! "$py" -m venv --without-pip --system-site-packages "$venv" >/dev/null 2>&1; then
            rm -rf "$venv"
            say "step $ref: no virtualenv for $py; packages it installs stay in this container"
            return 0
        fi
        if "$py" -c 'import pip' >/dev/null 2>&1; then # the image's pip, installing here
            for shim in pip pip3; do
                printf '#!%s\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n' \
                    "$venv/bin/python" >"$venv/bin/$shim" && chmod 755 "$venv/bin/$shim"
            done
        fi
    fi
    PATH="$venv/bin:$PATH" VIRTUAL_ENV=$venv UV_PYTHON=${UV_PYTHON:-$venv/bin/python}
    export PATH VIRTUAL_ENV UV_PYTHON
}

masking() { # stdin to stdout, each line of the values of the variables named in $mask as ***
    awk -v names="$mask" '
function xml(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); gsub(/"/, "\\&quot;", s); return s }
function add(v) { if (length(v) >= 3) { values[++k] = v; if (xml(v) != v) values[++k] = xml(v) } }
BEGIN {
    n = split(names, list, ",")
    for (i = 1; i <= n; i++) { m = split(ENVIRON[list[i]], lines, "\n"); for (j = 1; j <= m; j++) add(lines[j]) }
}
{
    line = $0
    for (i = 1; i <= k; i++) {
        out = ""
        while ((p = index(line, values[i])) > 0) {
            out = out substr(line, 1, p - 1) "***"
            line = substr(line, p + length(values[i]))
        }
        line = out line
    }
    print line
    fflush()
}'
}

launch() { # the step's command, in the background subshell `launch ... &` makes
    umask "$USER_UMASK"
    if [ -n "$dir" ]; then cd "$dir" || exit 126; fi
    # its own process group where setsid exists, so that a timeout stops the whole tree
    if command -v setsid >/dev/null 2>&1; then exec setsid "$@"; else exec "$@"; fi
}

run_attempt() { # runs "$@" once within `limit` seconds (if set); sets `code` and `status`
    rm -f "$S/.timedout" "$S/.aborted"
    report="$S/reports/$ref-$attempt.xml"
    if [ "$junit" = 1 ]; then
        PYTEST_ADDOPTS="${base_addopts:+$base_addopts }--junit-xml=$report"
        export PYTEST_ADDOPTS
    fi
    filter=
    pipe="$S/.mask-$ref"
    rm -f "$pipe"
    if [ -n "$mask" ] && mkfifo "$pipe"; then # stdout and stderr through `masking`
        masking <"$pipe" &
        filter=$!
        launch "$@" >"$pipe" 2>&1 &
    else
        launch "$@" &
    fi
    pid=$!
    # the watchdog: the time limit, and an abort the runner signals (not for `always` steps)
    (
        nap=
        trap 'kill "$nap" 2>/dev/null; exit 0' TERM
        end=
        [ -z "$limit" ] || end=$(($(now) + limit))
        while :; do
            if [ "$condition" != always ] && signalled abort; then
                : >"$S/.aborted"
                break
            fi
            if [ -n "$end" ] && [ "$(now)" -ge "$end" ]; then
                : >"$S/.timedout"
                break
            fi
            sleep 1 &
            nap=$!
            wait "$nap"
        done
        kill -TERM -"$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
        sleep 3 &
        nap=$!
        wait "$nap"
        kill -KILL -"$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    ) >/dev/null 2>&1 &
    watchdog=$!
    wait "$pid"
    code=$?
    kill "$watchdog" 2>/dev/null
    wait "$watchdog" 2>/dev/null
    if [ -n "$filter" ]; then # its output ends with it, unless something it started holds on
        held=0
        while kill -0 "$filter" 2>/dev/null && [ "$held" -lt 5 ]; do
            sleep 1
            held=$((held + 1))
        done
        kill "$filter" 2>/dev/null
        wait "$filter" 2>/dev/null
        rm -f "$pipe"
    fi
    # the command's own --junit-xml (`xml`) replaced ours: that report, then
    if [ "$junit" = 1 ] && [ ! -f "$report" ] && [ -n "$xml" ] && [ -f "$xml" ]; then
        cat "$xml" >"$report"
    fi
    if [ -n "$filter" ] && [ -f "$report" ]; then
        masking <"$report" >"$report.tmp" && mv "$report.tmp" "$report"
    fi
    if [ -e "$S/.aborted" ]; then
        status=aborted
        say "step $ref: aborted"
    elif [ -e "$S/.timedout" ]; then
        status=timeout
        say "step $ref: timed out after ${limit}s"
    elif [ "$code" = 0 ]; then
        status=passed
    else
        status=failed
    fi
    if [ "$status" = failed ] && [ -f "$S/signals/$ref" ]; then # a waiting step: as signalled
        read -r word _ <"$S/signals/$ref"
        case "$word" in timeout | error) status=$word ;; esac
    fi
    if [ "$negative" = 1 ]; then
        case "$status" in
        passed) status=failed ;;
        failed) status=passed ;;
        esac
    fi
}

retry_done() { # the step's `retry.until`, decided: passed, failed, always, never
    case "$until" in
    passed) [ "$status" = passed ] ;;
    failed) [ "$status" != passed ] ;;
    always) true ;;
    *) false ;;
    esac
}

end_step() { # STATUS [EXIT [ATTEMPTS]]: record, raise the flags, exit 0 for the next container
    seconds=$(($(now) - started))
    record "$ref" "$1" "${2:--}" "${3:-0}" "$seconds"
    say "step $ref $1 (exit ${2:--}, ${3:-0} attempt(s), ${seconds}s)"
    case "$1" in
    failed | timeout | error | aborted)
        if [ "$optional" = 0 ]; then
            flag failed
            [ "$1" = timeout ] && flag timeout
            [ "$1" = error ] && flag error
            [ "$blocking" = 1 ] && flag blocked
        fi
        ;;
    esac
    if [ -n "$deadline" ] && [ "$(elapsed)" -ge "$deadline" ]; then flag deadline; fi
    exit 0
}

step() {
    ref= condition=passed retries=0 until=passed timeout= negative=0 optional=0 blocking=1
    dir= deadline= grace=10 groups= needs= delay= junit=0 failure=failed mask= xml= # plan.py
    artifacts= artdir= cap=5242880
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        case "$1" in
        *=*) key=${1%%=*} value=${1#*=} ;;
        *)
            say "bad option $1"
            exit 64
            ;;
        esac
        case "$key" in
        ref | condition | retries | until | timeout | negative | optional | blocking | dir | \
            deadline | grace | groups | needs | delay | junit | failure | mask | xml | \
            artifacts | artdir | cap) eval "$key=\$value" ;;
        *)
            say "unknown option $key"
            exit 64
            ;;
        esac
        shift
    done
    [ "${1:-}" = -- ] && shift
    setup
    started=$(now)
    stop_at= # epoch seconds when the step must end: its groups' timeouts, the deadline
    if ! enter_groups "$groups"; then
        say "step $ref skipped: its group did not run"
        end_step skipped
    fi
    if [ -n "$needs" ] && [ "$(status_of "$needs")" != passed ]; then
        say "step $ref skipped: step $needs did not pass"
        end_step skipped
    fi
    if signalled abort; then
        if [ "$condition" != always ]; then
            say "step $ref: the execution was aborted"
            end_step aborted
        fi
        stop_at=$(least "$stop_at" $((started + grace)))
    fi
    if [ -n "$deadline" ] && [ "$(elapsed)" -ge "$deadline" ]; then flag deadline; fi
    if has deadline; then
        if [ "$condition" != always ]; then
            say "step $ref skipped: the execution deadline was exceeded before it started"
            end_step skipped
        fi
        stop_at=$(least "$stop_at" $((started + grace))) # clean-up steps get a grace period
    elif [ -n "$deadline" ]; then
        stop_at=$(least "$stop_at" $(($(cat "$S/start") + deadline)))
    fi
    if ! allowed "$condition"; then
        say "step $ref skipped: condition $condition"
        end_step skipped
    fi
    if [ -n "$stop_at" ] && [ "$stop_at" -le "$started" ]; then
        say "step $ref: its group's timeout ran out before it started"
        end_step timeout
    fi
    [ -z "$delay" ] || sleep "$delay"
    if [ -n "$dir" ] && [ ! -d "$dir" ]; then
        say "step $ref: working directory $dir does not exist"
        end_step error
    fi
    if [ -n "$mask" ] && ! command -v awk >/dev/null 2>&1; then
        say "step $ref: no awk in the image: the values of $mask are not masked in its output"
        mask=
    fi
    python_env
    base_addopts=${PYTEST_ADDOPTS:-}
    attempt=0
    while :; do
        attempt=$((attempt + 1))
        limit=$timeout
        [ -z "$stop_at" ] || limit=$(least "$limit" $((stop_at - $(now))))
        [ -z "$limit" ] || [ "$limit" -gt 0 ] || limit=1
        run_attempt "$@"
        if retry_done || [ "$attempt" -gt "$retries" ] || [ "$status" = aborted ]; then break; fi
        if [ -n "$stop_at" ] && [ "$(now)" -ge "$stop_at" ]; then break; fi
        say "--- step $ref: attempt $attempt $status, retrying ---"
    done
    [ "$status" = failed ] && status=$failure
    case "$status" in timeout | aborted) code=- ;; esac # stopped: no exit code of its own, as elsewhere
    [ -f "$S/signals/$ref" ] && code=- # a waiting step: its status is the runner's, no exit code
    [ -z "$artifacts" ] || collect_artifacts
    end_step "$status" "$code" "$attempt"
}

# -- artifacts: the files `artifacts.paths` match, copied to $S/artifacts/REF/NAME -----------
# As on the other runners: globs (`*`, `?`, `[...]` in a name, `**` across directories, hidden
# names only when the pattern names them) relative to `artdir`; only from inside /data, links
# judged by where they lead and never followed out; names relative to `artdir` when below it.
# At most `cap` bytes for the whole execution. What is turned down goes to refused/REF.

refuse() { printf '%s\n' "$1" >>"$S/refused/$ref"; }

real_path() { # the physical path of an existing $1 (links resolved), or fail
    if [ -d "$1" ]; then
        (cd -P -- "$1" 2>/dev/null && pwd -P)
    elif [ -L "$1" ]; then # a link to a file: whatever the image resolves links with
        if command -v realpath >/dev/null 2>&1; then
            realpath -- "$1" 2>/dev/null
        else
            readlink -f -- "$1" 2>/dev/null
        fi
    else
        case "$1" in */*) parent=${1%/*} ;; *) parent=. ;; esac
        parent=$(cd -P -- "${parent:-/}" 2>/dev/null && pwd -P) || return 1
        echo "${parent%/}/${1##*/}"
    fi
}

inside() { # whether the physical path $1 is $real_data or below it, and not assay's own
    case "$1" in "$real_state" | "$real_state"/*) return 1 ;; esac
    case "$1" in "$real_data" | "$real_data"/*) return 0 ;; *) return 1 ;; esac
}

copy_masked() { # PATH SIZE: the file on stdout; text (no NUL byte) through `masking` with mask=
    if [ -n "$mask" ] && command -v awk >/dev/null 2>&1 &&
        [ "$(tr -d '\000' <"$1" | wc -c)" -eq "$2" ]; then
        masking <"$1"
    else
        cat -- "$1"
    fi
}

keep() { # REAL NAME: copy one file, within the cap
    case "$2" in *'
'*)
        refuse "$shown: $2: a name with a line break"
        return
        ;;
    esac
    size=$(wc -c <"$1" 2>/dev/null) || {
        refuse "$shown: $1 cannot be read"
        return
    }
    size=$((size + 0))
    total=0
    [ ! -f "$S/artifacts.size" ] || read -r total <"$S/artifacts.size"
    if [ $((total + size)) -gt "$cap" ]; then
        refuse "$shown: $2: $size bytes would exceed the limit of $cap bytes of artifacts per execution (ASSAY_KUBERNETES_ARTIFACTS_LIMIT)"
        return
    fi
    target="$S/artifacts/$ref/$2"
    mkdir -p "${target%/*}" && copy_masked "$1" "$size" >"$target" || {
        refuse "$shown: $2 could not be copied"
        rm -f "$target"
        return
    }
    echo $((total + size)) >"$S/artifacts.size"
}

judged() { # PATH: its physical path when it may be followed (links out refused), else fail
    if [ -L "$1" ]; then
        found=$(real_path "$1") || {
            refuse "$shown: $1 is a link that cannot be resolved"
            return 1
        }
        if ! inside "$found"; then
            refuse "$shown: $1 links to $found, outside the workspace"
            return 1
        fi
        echo "$found"
    else
        echo "$1"
    fi
}

walk() { # DIR NAME DEPTH SEGMENT...: the files below DIR matching the segments (in subshells)
    dir=$1 name=$2 depth=$3
    shift 3
    [ "$depth" -lt 40 ] || return 0 # a loop of links inside /data
    seg=$1
    shift
    if [ "$seg" = "**" ]; then
        [ $# -eq 0 ] || (walk "$dir" "$name" "$depth" "$@")
        set +f
        for entry in "$dir"/*; do
            set -f
            [ -e "$entry" ] || [ -L "$entry" ] || continue
            real=$(judged "$entry") || continue
            child=${name:+$name/}${entry##*/}
            if [ -d "$real" ]; then
                (walk "$real" "$child" $((depth + 1)) "**" "$@")
            elif [ $# -eq 0 ] && [ -f "$real" ]; then
                keep "$real" "$child"
            fi
        done
        return 0
    fi
    set +f
    # shellcheck disable=SC2231 # the segment is a glob
    for entry in "$dir"/$seg; do
        set -f
        case "${entry##*/}" in . | ..) continue ;; esac
        [ -e "$entry" ] || [ -L "$entry" ] || continue
        real=$(judged "$entry") || continue
        child=${name:+$name/}${entry##*/}
        if [ $# -gt 0 ]; then
            [ ! -d "$real" ] || (walk "$real" "$child" $((depth + 1)) "$@")
        elif [ -f "$real" ]; then
            keep "$real" "$child"
        fi
    done
    set -f
}

collect_pattern() { # PATTERN (absolute, or relative to $artdir)
    shown=$1
    case "$1" in /*) full=$1 ;; *) full=$artdir/$1 ;; esac
    literal= wild=0
    set -f
    old_ifs=$IFS
    IFS=/
    # shellcheck disable=SC2086 # split on /
    set -- $full
    IFS=$old_ifs
    for seg in "$@"; do # the literal prefix, `.` and `..` resolved as written
        shift
        case "$seg" in *[*?[]*)
            set -- "$seg" "$@"
            wild=1
            break
            ;;
        esac
        case "$seg" in
        '' | .) ;;
        ..) literal=${literal%/*} ;;
        *) literal=$literal/$seg ;;
        esac
    done
    for seg in "$@"; do
        if [ "$seg" = .. ]; then
            refuse "$shown: \`..\` after a wildcard"
            return
        fi
    done
    literal=${literal:-/}
    case "$literal" in "$D" | "$D"/*) ;; *)
        refuse "$shown: $literal is outside the workspace"
        return
        ;;
    esac
    [ -e "$literal" ] || [ -L "$literal" ] || return 0
    root=$(real_path "$literal") || {
        refuse "$shown: $literal cannot be resolved"
        return
    }
    if ! inside "$root"; then
        refuse "$shown: $root is outside the workspace"
        return
    fi
    case "$root" in # names relative to artdir when below it
    "$real_base"/*) prefix=${root#"$real_base"/} ;;
    *) prefix= ;;
    esac
    if [ "$wild" = 0 ]; then
        [ -f "$root" ] && keep "$root" "${prefix:-${root##*/}}"
        return 0
    fi
    [ ! -d "$root" ] || (walk "$root" "$prefix" 0 "$@")
}

collect_artifacts() {
    mkdir -p "$S/artifacts/$ref" "$S/refused" || return 0
    real_data=$(real_path "$D") && real_state=$(real_path "$S") || return 0
    artdir=${artdir:-${dir:-$D}}
    real_base=$(real_path "$artdir") || real_base=$artdir
    old_ifs=$IFS
    IFS='
'
    set -f
    # shellcheck disable=SC2086 # one pattern per line
    set -- $artifacts
    IFS=$old_ifs
    for pattern in "$@"; do (collect_pattern "$pattern"); done
    set +f
}

finish() { # REF...: print the execution's result as one JSON line; exit 0 only if it passed
    setup
    if signalled abort; then
        result=aborted
    elif has error; then
        result=error
    elif has timeout || has deadline; then
        result=timeout
    elif has failed; then
        result=failed
    else
        result=passed
    fi
    steps= sep=
    for ref in "$@"; do
        if [ -e "$S/steps/$ref" ]; then
            read -r word code attempts seconds <"$S/steps/$ref"
        else
            word=skipped code=- attempts=0 seconds=0
        fi
        [ "$code" = - ] && code=null
        steps="$steps$sep\"$ref\": {\"status\": \"$word\", \"exitCode\": $code, \"attempts\": $attempts, \"seconds\": $seconds}"
        sep=", "
    done
    echo "$result" >"$S/result"
    for report in "$S"/reports/*.xml; do # for the runner: "assay-report NAME", then "|LINE"s
        [ -f "$report" ] || continue
        printf 'assay-report %s\n' "${report##*/}"
        while IFS= read -r line || [ -n "$line" ]; do printf '|%s\n' "$line"; done <"$report"
    done
    send_artifacts "$@"
    printf '{"status": "%s", "steps": {%s}}\n' "$result" "$steps"
    [ "$result" = passed ]
}

send_artifacts() { # REF...: for the runner, each step's refusals and kept files, framed:
    # "assay-artifact REF NAME", "+BASE64" lines, "assay-artifact-end SIZE SHA256" (- if the
    # image has no sha256sum); "assay-artifact-refused REF WHY" (live.py, kube/artifacts.py)
    for ref in "$@"; do
        if [ -f "$S/refused/$ref" ]; then
            while IFS= read -r line; do
                printf 'assay-artifact-refused %s %s\n' "$ref" "$line"
            done <"$S/refused/$ref"
        fi
        [ -d "$S/artifacts/$ref" ] || continue
        if ! command -v base64 >/dev/null 2>&1; then
            printf 'assay-artifact-refused %s %s\n' "$ref" "not sent: the result container's image has no base64"
            continue
        fi
        find "$S/artifacts/$ref" -type f | sort | while IFS= read -r file; do
            size=$(wc -c <"$file") || continue
            sum=-
            if command -v sha256sum >/dev/null 2>&1; then
                sum=$(sha256sum <"$file")
                sum=${sum%% *}
            fi
            printf 'assay-artifact %s %s\n' "$ref" "${file#"$S/artifacts/$ref/"}"
            base64 <"$file" | sed 's/^/+/'
            printf 'assay-artifact-end %s %s\n' $((size + 0)) "$sum"
        done
    done
}

clone() { # content.git: ASSAY_GIT_URI, _REVISION, _DEST, _PATHS (lines), _CONE, _USERNAME, _TOKEN
    set -e
    dest=${ASSAY_GIT_DEST:-/data/repo}
    set -- git
    if [ -n "${ASSAY_GIT_TOKEN:-}" ]; then # a credential helper: the token stays in the env
        set -- git -c credential.helper='!f() { echo "username=${ASSAY_GIT_USERNAME:-oauth2}"; echo "password=$ASSAY_GIT_TOKEN"; }; f'
    fi
    umask "$USER_UMASK"
    git init -q "$dest"
    git -C "$dest" remote add origin "$ASSAY_GIT_URI"
    if [ -n "${ASSAY_GIT_PATHS:-}" ]; then
        cone=--no-cone
        [ "${ASSAY_GIT_CONE:-}" = true ] && cone=--cone
        old_ifs=$IFS
        IFS='
'
        # shellcheck disable=SC2086 # one path per line
        git -C "$dest" sparse-checkout set $cone $ASSAY_GIT_PATHS
        IFS=$old_ifs
    fi
    revision=${ASSAY_GIT_REVISION:-HEAD}
    if "$@" -C "$dest" fetch -q --depth 1 origin "$revision"; then
        git -C "$dest" checkout -q FETCH_HEAD
    else # a commit the server will not fetch by itself: the whole history
        "$@" -C "$dest" fetch -q origin
        git -C "$dest" checkout -q "$revision"
    fi
    say "checked out $ASSAY_GIT_URI ($revision) in $dest"
}

files() { # LIST: lines "KEY MODE PATH"; KEY a file next to LIST, MODE octal or -
    set -e
    umask "$USER_UMASK"
    while read -r key mode path; do
        mkdir -p "${path%/*}"
        cat "${1%/*}/$key" >"$path"
        [ "$mode" = - ] || chmod "$mode" "$path"
    done <"$1"
}

wait_signal() { # REF: the runner's signal REF (the status of a parallel or execute step)
    setup
    say "step $1: waiting for the runner" # the runner starts what the step waits for
    while ! signalled "$1"; do sleep 1; done
    read -r word _ <"$S/signals/$1"
    say "step $1: $word"
    [ "$word" = passed ]
}

mode=${1:-}
[ $# -gt 0 ] && shift
case "$mode" in
step) step "$@" ;;
finish) finish "$@" ;;
clone) clone ;;
files) files "$1" ;;
wait) wait_signal "$1" ;;
*)
    say "usage: entry.sh step KEY=VALUE... -- COMMAND [ARG...] | finish REF... | clone | files LIST | wait REF"
    exit 64
    ;;
esac
