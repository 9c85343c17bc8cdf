; The miscomm installer for Windows (makensis, Debian's nsis package):
;   makensis -DBIN=build-windows -DVERSION=0.1.0 -DOUT=build-windows/miscomm-setup.exe \
;            packaging/windows/miscomm.nsi
; (make windows-installer). Installs the programs in Program Files\miscomm,
; creates %ProgramData%\miscomm (configuration, certificates, data) with a
; default miscomm.ini, and, when the build has miscommd.exe, registers and
; starts the service "miscomm". Silent with /S. The uninstaller removes the
; programs and the service and keeps %ProgramData%\miscomm (the
; configuration, the certificates and the data), as an upgrade does.
Unicode true
; A 64-bit installer (Debian's nsis ships the amd64 stubs): it runs where the
; 64-bit programs run, Wine without its 32-bit part included.
Target amd64-unicode
!ifndef VERSION
  !define VERSION 0.1.0
!endif
!ifndef BIN
  !define BIN ..\..\build-windows
!endif
!ifndef OUT
  !define OUT miscomm-setup-${VERSION}.exe
!endif
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\miscomm"

Name "miscomm ${VERSION}"
OutFile "${OUT}"
InstallDir "$PROGRAMFILES64\miscomm"
RequestExecutionLevel admin
SetCompressor /SOLID lzma
ShowInstDetails show

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

Section "miscomm"
  SetShellVarContext all
  SetRegView 64
  SetOutPath "$INSTDIR"
!if /FileExists "${BIN}\miscommd.exe"
  ; An upgrade: the running service lets go of its files first.
  IfFileExists "$INSTDIR\miscommd.exe" 0 +2
    ExecWait '"$INSTDIR\miscommd.exe" --stop-service'
  File "${BIN}\miscommd.exe"
!endif
  File "${BIN}\misctl.exe"
  File "${BIN}\miscli.exe"
  File "${BIN}\libmiscomm.dll"
  File "/oname=miscomm.ini.example" "miscomm.ini"

  CreateDirectory "$APPDATA\miscomm"
  CreateDirectory "$APPDATA\miscomm\certs"
  CreateDirectory "$APPDATA\miscomm\data"
  ; Only administrators and the service account (LocalSystem) may read the
  ; keys, passwords and data: no inherited access for Users.
  nsExec::Exec 'icacls "$APPDATA\miscomm" /inheritance:r /grant:r *S-1-5-32-544:(OI)(CI)F *S-1-5-18:(OI)(CI)F'
  Pop $0
  ; The configuration is the administrator's once written: never replaced.
  IfFileExists "$APPDATA\miscomm\miscomm.ini" +2 0
    CopyFiles /SILENT "$INSTDIR\miscomm.ini.example" "$APPDATA\miscomm\miscomm.ini"

  WriteUninstaller "$INSTDIR\uninstall.exe"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "miscomm ${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "miscomm"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1

!if /FileExists "${BIN}\miscommd.exe"
  ExecWait '"$INSTDIR\miscommd.exe" --install-service -c "$APPDATA\miscomm\miscomm.ini"' $0
  DetailPrint "miscommd --install-service: exit $0"
  ExecWait '"$INSTDIR\miscommd.exe" --start-service' $0
  DetailPrint "miscommd --start-service: exit $0"
!endif
SectionEnd

Section "Uninstall"
  SetShellVarContext all
  SetRegView 64
  IfFileExists "$INSTDIR\miscommd.exe" 0 +3
    ExecWait '"$INSTDIR\miscommd.exe" --stop-service'
    ExecWait '"$INSTDIR\miscommd.exe" --uninstall-service'
  Delete "$INSTDIR\miscommd.exe"
  Delete "$INSTDIR\misctl.exe"
  Delete "$INSTDIR\miscli.exe"
  Delete "$INSTDIR\libmiscomm.dll"
  Delete "$INSTDIR\miscomm.ini.example"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINST_KEY}"
SectionEnd
