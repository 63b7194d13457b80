"""REST endpoints of the human side. Thin: validate, call one service or selector, render."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api.serializers import (
    MemberRequestSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
    TokenRequestSerializer,
    TokenSerializer,
    project_representation,
)
from annotation.models import Project
from annotation.selectors import (
    guidelines_current,
    guidelines_current_of,
    membership_get,
    project_get_for_lead,
    project_list_for_user,
    project_progress,
    projects_progress,
)
from annotation.services import (
    api_token_create,
    membership_remove,
    membership_set,
    membership_set_role,
    project_create,
    project_update,
)
from ftapp.api_serializers import request_body
from ftapp.errors import Forbidden


def _render_project(project: Project, role: str, *, progress=None, guidelines=None) -> dict:
    """One project's payload; a list passes the figures it read for all its projects."""
    data = project_representation(
        project,
        role=role,
        progress=progress if progress is not None else project_progress(project=project),
        guidelines=guidelines or guidelines_current(project=project),
    )
    return ProjectSerializer(data).data


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    # A stricter rate per address than the anonymous one, against password guessing.
    throttle_scope = "auth"

    @extend_schema(
        request=TokenRequestSerializer,
        responses={201: TokenSerializer},
        summary="Exchange a username and password for a new API token",
        auth=[],
    )
    def post(self, request):
        data = request_body(request, TokenRequestSerializer, context={"request": request})
        token, key = api_token_create(user=data["user"], name=data["name"])
        return Response({"token": key, "name": token.name}, status=status.HTTP_201_CREATED)


class ProjectListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "archived", bool, description="1: archived projects too (they are left out)."
            )
        ],
        responses=ProjectSerializer(many=True),
        summary="The caller's projects",
    )
    def get(self, request):
        rows = request.user.memberships.only("project_id", "role", "user_id")
        memberships = {m.project_id: m.role for m in rows}
        archived = request.query_params.get("archived") in ("1", "true")
        projects = list(project_list_for_user(user=request.user, archived=archived))
        ids = [p.pk for p in projects]
        progress = projects_progress(project_ids=ids)
        guidelines = guidelines_current_of(project_ids=ids)
        return Response(
            [
                _render_project(
                    p, memberships[p.pk], progress=progress[p.pk], guidelines=guidelines.get(p.pk)
                )
                for p in projects
            ]
        )

    @extend_schema(
        request=ProjectSerializer,
        responses={201: ProjectSerializer},
        summary="Create a project; the caller becomes its lead",
    )
    def post(self, request):
        if not request.user.has_perm("annotation.add_project"):
            raise Forbidden("You may not create projects; ask an admin for that permission.")
        data = request_body(request, ProjectSerializer)
        project = project_create(by=request.user, **data)
        return Response(_render_project(project, "lead"), status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    @extend_schema(responses=ProjectSerializer, summary="One project with progress counts")
    def get(self, request, project_id: int):
        membership = membership_get(user=request.user, project_id=project_id)
        return Response(_render_project(membership.project, membership.role))

    @extend_schema(
        request=ProjectUpdateSerializer,
        responses=ProjectSerializer,
        summary="Change a project's settings; changed guidelines or anchors publish a new version",
    )
    def patch(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        data = request_body(request, ProjectUpdateSerializer, instance=project, partial=True)
        project = project_update(by=request.user, project=project, **data)
        return Response(_render_project(project, "lead"))


class MemberView(APIView):
    @extend_schema(
        request=MemberRequestSerializer,
        responses={200: MemberSerializer},
        summary="Add a user to the project, or change their role",
    )
    def post(self, request, project_id: int):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        data = request_body(request, MemberRequestSerializer)
        membership = membership_set(project=project, by=request.user, **data)
        return Response(MemberSerializer(membership).data)


class MemberDetailView(APIView):
    @extend_schema(
        request=MemberRoleSerializer,
        responses={200: MemberSerializer},
        summary="Change a member's role; the last lead cannot step down",
    )
    def patch(self, request, project_id: int, username: str):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        data = request_body(request, MemberRoleSerializer)
        membership = membership_set_role(
            by=request.user, project=project, username=username, **data
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        responses={204: None},
        summary="Remove a member: their leases and batch assignments end, their judgments stay",
    )
    def delete(self, request, project_id: int, username: str):
        project = project_get_for_lead(user=request.user, project_id=project_id)
        membership_remove(by=request.user, project=project, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)
