"""``assay install kubernetes``: print the manifests that run ``assay server`` in a cluster."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Print manifests that install assay (pipe them to `kubectl apply -f -`).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command()
def kubernetes(
    namespace: Annotated[str, typer.Option(help="Namespace of the server and its runs.")] = "assay",
    database_url_secret: Annotated[
        str | None,
        typer.Option(
            help="Secret holding ASSAY_DATABASE_URL: NAME (key `url`) or NAME:KEY; "
            "a postgresql+psycopg:// URL."
        ),
    ] = None,
    with_postgres: Annotated[
        bool, typer.Option(help="Also run a PostgreSQL StatefulSet (generated password).")
    ] = False,
    image: Annotated[str | None, typer.Option(help="The assay image of the server.")] = None,
) -> None:
    """Namespace, CRDs, ServiceAccount, Role (namespaced, no wildcards), RoleBinding, the
    server's Deployment, Service and volume claim, as multi-document YAML on stdout."""
    from dataclasses import replace

    from assay.kube.install import InstallOptions, install_manifests
    from assay.spec.yaml_text import dump_documents

    options = InstallOptions(
        namespace=namespace, database_url_secret=database_url_secret, with_postgres=with_postgres
    )
    if image:
        options = replace(options, image=image)
    sys.stdout.write(dump_documents(install_manifests(options)))


@app.command()
def templates(
    namespace: Annotated[
        str | None,
        typer.Option(help="Set metadata.namespace (for `kubectl apply` into that namespace)."),
    ] = None,
) -> None:
    """The TestWorkflowTemplates shipped with assay (kubectl-wait, ensure-namespace,
    k8s-diagnostics), as multi-document YAML on stdout: to read, to customize, or to apply
    where assay itself is not installed (a Testkube cluster). assay resolves them without."""
    from assay.spec.shipped import shipped_template_texts

    documents = list(shipped_template_texts().values())
    if namespace is not None:
        from assay.errors import DefinitionError
        from assay.kube.names import dns_label

        if dns_label(namespace) != namespace:
            raise DefinitionError(f"--namespace {namespace!r}: not a DNS label")
        documents = [
            text.replace("\nmetadata:\n", f"\nmetadata:\n  namespace: {namespace}\n", 1)
            for text in documents
        ]
    sys.stdout.write("---\n".join(documents))
