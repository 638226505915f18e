"""GET /v1/customers…, timeline and merge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.deps import JsonBody, KeyDep, UowDep, require
from core.auth.service import Role
from core.identity.merge import merge_customers
from core.identity.models import Customer
from core.identity.schemas import (
    AccountOut,
    CustomerOut,
    IdentityOut,
    MergeIn,
    MergeSuggestionOut,
    Timeline,
)
from core.identity.service import IdentityService
from core.identity.timeline import customer_timeline

router = APIRouter(prefix="/v1/customers", tags=["customers"])

Reader = Depends(require(Role.INTEGRATION, Role.AGENT))


class CustomerList(BaseModel):
    items: list[CustomerOut]


def customer_out(service: IdentityService, customer: Customer) -> CustomerOut:
    account = customer.account
    return CustomerOut(
        id=customer.id,
        name=customer.name,
        account=AccountOut(id=account.id, name=account.name, attributes=account.attributes)
        if account
        else None,
        attributes=customer.attributes,
        identities=[
            IdentityOut(kind=i.kind, value=i.value, created_at=i.created_at)
            for i in customer.identities
        ],
        merged_into_id=customer.merged_into_id,
        merge_suggestions=[
            MergeSuggestionOut.model_validate(s, from_attributes=True)
            for s in service.merge_suggestions(customer.id)
        ],
        created_at=customer.created_at,
        updated_at=customer.updated_at,
    )


@router.get("", response_model=CustomerList, dependencies=[Reader])
def find_customers(
    uow: UowDep,
    email: str | None = None,
    phone: str | None = None,
    handle: Annotated[str | None, Query(description="platform:handle, e.g. twitter:@acme")] = None,
    customer_ref: str | None = None,
) -> CustomerList:
    """Customers owning any of the given identifiers."""
    service = IdentityService(uow.session, uow.container.settings.default_phone_region)
    found = service.find(email, phone, handle, customer_ref)
    return CustomerList(items=[customer_out(service, c) for c in found])


@router.get("/{customer_id}", response_model=CustomerOut, dependencies=[Reader])
def get_customer(customer_id: str, uow: UowDep) -> CustomerOut:
    """One customer: identities, account, attributes, open merge suggestions."""
    service = IdentityService(uow.session, uow.container.settings.default_phone_region)
    return customer_out(service, service.get(customer_id))


@router.get("/{customer_id}/timeline", response_model=Timeline, dependencies=[Reader])
def get_timeline(
    customer_id: str,
    uow: UowDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[datetime | None, Query(description="Page: items older than this")] = None,
) -> Timeline:
    """Every message of every channel and every identity event, newest first."""
    region = uow.container.settings.default_phone_region
    return customer_timeline(uow.session, region, customer_id, before, limit)


@router.post(
    "/{customer_id}/merge",
    response_model=CustomerOut,
    dependencies=[JsonBody, Depends(require(Role.AGENT, Role.INTEGRATION))],
)
def merge(customer_id: str, body: MergeIn, uow: UowDep, key: KeyDep) -> CustomerOut:
    """Fold `other_id` into this customer; an audit event is kept on both timelines."""
    container = uow.container
    region = container.settings.default_phone_region
    merged = merge_customers(
        uow.session,
        container.history,
        region,
        customer_id,
        body.other_id,
        actor=f"api_key:{key.name}",
        now=container.clock.now(),
    )
    uow.commit()
    return customer_out(IdentityService(uow.session, region), merged)
