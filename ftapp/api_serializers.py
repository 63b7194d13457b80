"""What every app's API serializers build on: strict input, ids a database key can hold, a
request's body checked."""

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from ftapp.json_input import contains_nul

# The largest id a database key holds: a bigger number in a request is a 400, not a 500 from
# the database.
ID_MAX = 2**63 - 1


def id_field(**kwargs) -> serializers.IntegerField:
    """An integer naming a stored object."""
    return serializers.IntegerField(min_value=1, max_value=ID_MAX, **kwargs)


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, so a typo is an error rather than a silent no-op."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            for name, value in data.items():
                field = self.fields.get(name)
                if field is None:
                    errors[name] = ["Unknown field."]
                elif field.read_only:
                    errors[name] = ["This field cannot be changed."]
                elif contains_nul(value) and not isinstance(field, serializers.Serializer):
                    # DRF's text fields refuse a NUL, but a free-form object (metadata,
                    # params) would carry it to the database, which cannot store it.
                    errors[name] = ["Null characters are not allowed."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def request_body(
    request: Request, serializer_class: type[serializers.Serializer], **kwargs
) -> dict[str, Any]:
    """The request's body as ``serializer_class`` reads it; an invalid one answers 400."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
