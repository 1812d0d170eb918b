"""Every query lives here, one module per aggregate. Tenancy is applied here, never per route:
a repository built for a project cannot see another project's rows."""
