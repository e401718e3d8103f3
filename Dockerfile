# The image of `assay server` and `assay worker`: what `assay install kubernetes` deploys.
#
# Built without any registry (scripts/server-image.sh does all of this):
#   BASE    a Debian image with python3 3.11: this repository makes one from Debian's own
#           packages (scripts/test-image.sh: debootstrap + `docker import`);
#   wheels/ a wheelhouse of assay and its dependencies, pip included (`pip wheel`).
# Stage 1 installs the wheels into a virtualenv with the wheelhouse's own pip (bytecode
# compiled up front: the root filesystem is read-only at run time; plotly is only the
# dashboard's plotly.min.js, its Python is never imported); stage 2 keeps
# only that virtualenv and runs as a non-root user, read-only root filesystem friendly
# (state in ASSAY_HOME, a volume; scratch in /tmp).
ARG BASE
FROM ${BASE} AS build
COPY wheels /wheels
RUN python3 -m venv --without-pip /opt/assay \
 && pip_wheel="$(ls /wheels/pip-*.whl)" \
 && /opt/assay/bin/python "$pip_wheel/pip" install --no-index --no-cache-dir --no-compile \
      --disable-pip-version-check --find-links /wheels "assay[postgres]" \
 && /opt/assay/bin/python -m compileall -q -j 0 -x '/plotly/' /opt/assay/lib \
 && /opt/assay/bin/assay --version

FROM ${BASE}
COPY --from=build /opt/assay /opt/assay
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/assay --no-create-home assay \
 && mkdir -p /var/lib/assay \
 && chown 10001:10001 /var/lib/assay \
 && chmod 0700 /var/lib/assay
ENV PATH=/opt/assay/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    ASSAY_HOME=/var/lib/assay \
    ASSAY_SERVER_HOST=0.0.0.0 \
    ASSAY_SERVER_PORT=8088 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /var/lib/assay
VOLUME /var/lib/assay
EXPOSE 8088
CMD ["assay", "server"]
