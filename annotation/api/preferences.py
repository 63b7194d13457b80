"""The caller's own settings over the API: the same ones the pages change."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.selectors import shortcuts_enabled
from annotation.services import shortcuts_set
from ftapp.api_serializers import StrictSerializer, request_body


class PreferencesSerializer(StrictSerializer):
    shortcuts = serializers.BooleanField(
        help_text="Single-key shortcuts in the annotator's workspace (on unless turned off)."
    )


class PreferencesView(APIView):
    @extend_schema(responses={200: PreferencesSerializer}, summary="The caller's own settings")
    def get(self, request):
        return Response({"shortcuts": shortcuts_enabled(user=request.user)})

    @extend_schema(
        request=PreferencesSerializer,
        responses={200: PreferencesSerializer},
        summary="Change the caller's own settings",
    )
    def put(self, request):
        data = request_body(request, PreferencesSerializer)
        preference = shortcuts_set(user=request.user, enabled=data["shortcuts"])
        return Response({"shortcuts": preference.shortcuts})
