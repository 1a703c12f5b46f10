"""Catalog kinds that are money: rental products, software licences, default economics, scale-out network
parts (every price a dated low/base/high range with its source)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from planner.catalog.schema_base import (
    Entry,
    Id,
    NonNegFloat,
    PositiveFloat,
    PositiveInt,
    PriceRange,
    Vendor,
    in_range,
    plausible,
    unit,
)

# ------------------------------------------------------------------------------------------------- prices
RentalTerm = Literal["on_demand", "1y", "3y", "spot"]
RENTAL_TERMS: tuple[str, ...] = ("on_demand", "1y", "3y", "spot")


class RentalPrice(Entry):
    """A rental product: one system, one provider class, one term (commitment), one $/GPU-hour range.

    Terms are distinct products: `on_demand` (no commitment, incl. short-term capacity blocks), `1y` and `3y`
    commitments, `spot` (preemptible). `lease_unit: whole_rack` marks rack-scale systems leased only as whole
    racks (NVL72); one rented 'server' of such a system is then the whole rack.
    """

    system: Id
    term: RentalTerm = Field(description="on_demand | 1y | 3y | spot")
    provider_class: Literal["hyperscaler", "neocloud"] = Field(description="who sells it")
    lease_unit: Literal["server", "whole_rack"] = Field("server", description="smallest unit that can be leased")
    usd_per_gpu_hour: PriceRange = Field(description="$/GPU-hour for this term (fields *_usd)")

    @model_validator(mode="after")
    def _plausible_price(self) -> RentalPrice:
        in_range("usd_per_gpu_hour.high_usd", self.usd_per_gpu_hour.high_usd, 0, 1000, " USD/GPU-hour")
        return self


class SoftwareLicence(Entry):
    """An optional software licence charged per GPU (e.g. NVIDIA AI Enterprise); a problem opts in by id."""

    vendors: list[Vendor] = Field(
        min_length=1, description="accelerator vendors whose GPUs need it"
    )
    usd_per_gpu_year: PriceRange = Field(description="owned GPUs: subscription per GPU per year (*_usd fields)")
    rented_usd_per_gpu_hour: PriceRange | None = Field(
        None, description="rented GPUs: marketplace price per GPU-hour (default: the yearly price / 8760)"
    )
    bundled_with_systems: list[Id] = Field(
        default_factory=list, description="systems whose purchase includes the licence (no extra charge)"
    )


class Economics(Entry):
    """Default financial assumptions; a problem references one by id and may override any field."""

    amortization_years: Annotated[PositiveFloat, plausible(0.5, 15, " years")]
    cost_of_capital: NonNegFloat = Field(le=0.5, description="annual rate, e.g. 0.08")
    maintenance_fraction_per_year: NonNegFloat = Field(le=0.5, description="of capex, per year")
    electricity_usd_per_kwh: PriceRange = Field(description="low/base/high ($/kWh in the *_usd fields)")
    network_fraction_of_capex: NonNegFloat = Field(0, le=1, description="scale-out fabric, as a share of servers")

    @model_validator(mode="after")
    def _plausible_price(self) -> Economics:
        in_range("electricity_usd_per_kwh.high_usd", self.electricity_usd_per_kwh.high_usd, 0, 2, " USD/kWh")
        return self


class NetworkItem(Entry):
    """One scale-out fabric part (switch, optic, cable) with its price: the proposal's BOM counts them from the
    fleet's NIC ports (planner.proposal.network); the optimizer itself prices the fabric as
    `network_fraction_of_capex`."""

    role: Literal["switch", "optic", "cable"]
    port_speed_gbps: PositiveFloat = Field(le=3200, json_schema_extra=unit("Gb/s"))
    ports: PositiveInt | None = Field(None, le=1024, description="switch ports at port_speed_gbps (switches only)")
    price: PriceRange = Field(description="price of one unit")

    @model_validator(mode="after")
    def _ports_for_switches(self) -> NetworkItem:
        if (self.role == "switch") != (self.ports is not None):
            raise ValueError("ports is required for a switch and applies to switches only")
        return self
